using System.Buffers.Binary;
using System.Text;

namespace Latent.Core.Tests.IO;

/// <summary>Builds safetensors files byte by byte, to the spec, independently of the code under test.</summary>
internal static class RawSafeTensors
{
    /// <summary>8-byte little-endian header length, the header bytes as given (no padding), then the data.</summary>
    public static byte[] Build(byte[] header, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>Writes <paramref name="header"/> (UTF-8) and <paramref name="data"/> to a new file in a fresh temp dir.</summary>
    public static string Write(string fileName, string header, byte[] data) =>
        WriteBytes(fileName, Build(Encoding.UTF8.GetBytes(header), data));

    /// <summary>Writes raw bytes to a new file in a fresh temp dir and returns its path.</summary>
    public static string WriteBytes(string fileName, byte[] bytes)
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
