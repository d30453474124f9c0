using System.Buffers.Binary;
using System.Text;
using SkiaSharp;
using Xunit;

namespace Latent.Core.Tests.Imaging;

/// <summary>Test images encoded with Skia, and a minimal PNG chunk parser that shares no code with the library.</summary>
static class TestImages
{
    /// <summary>Encodes a <paramref name="w"/> x <paramref name="h"/> image whose pixel (x, y) is <paramref name="pixel"/>(x, y), straight alpha.</summary>
    public static byte[] Encode(int w, int h, Func<int, int, SKColor> pixel, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 100)
    {
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bytes = new byte[info.BytesSize];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                SKColor c = pixel(x, y);
                int i = 4 * (y * w + x);
                (bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]) = (c.Red, c.Green, c.Blue, c.Alpha);
            }
        }
        using var bitmap = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(bytes, 0, bitmap.GetPixels(), bytes.Length);
        using SKData? data = format == SKEncodedImageFormat.Webp
            ? bitmap.PeekPixels().Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 100))
            : bitmap.Encode(format, quality);
        Assert.NotNull(data);
        return data.ToArray();
    }

    /// <summary>A gray image (r = g = b = <paramref name="value"/>(x, y)).</summary>
    public static byte[] Gray(int w, int h, Func<int, int, byte> value) =>
        Encode(w, h, (x, y) => { byte v = value(x, y); return new SKColor(v, v, v); });

    /// <summary>Deterministic RGB noise.</summary>
    public static byte[] Noise(int w, int h, int seed)
    {
        var random = new Random(seed);
        var colors = new SKColor[w * h];
        for (int i = 0; i < colors.Length; i++)
            colors[i] = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
        return Encode(w, h, (x, y) => colors[y * w + x]);
    }

    /// <summary>Straight-alpha RGBA bytes of an encoded image, as Skia decodes them.</summary>
    public static byte[] DecodeRgba(byte[] encoded, out int w, out int h)
    {
        using var codec = SKCodec.Create(SKData.CreateCopy(encoded));
        w = codec.Info.Width;
        h = codec.Info.Height;
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bytes = new byte[info.BytesSize];
        Assert.Equal(SKCodecResult.Success, codec.GetPixels(info, bytes));
        return bytes;
    }
}

/// <summary>A minimal, independent PNG chunk reader (own CRC-32 table) for checking what the library writes.</summary>
static class MiniPng
{
    public sealed record Chunk(string Type, byte[] Data, bool CrcOk)
    {
        /// <summary>The keyword of a text chunk (bytes up to the first NUL).</summary>
        public string Keyword => Encoding.Latin1.GetString(Data, 0, Array.IndexOf(Data, (byte)0));
    }

    static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    public static uint Crc(ReadOnlySpan<byte> bytes)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in bytes)
            c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    public static List<Chunk> Parse(byte[] png)
    {
        Assert.Equal(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }, png[..8]);
        var chunks = new List<Chunk>();
        int offset = 8;
        while (offset < png.Length)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            string type = Encoding.ASCII.GetString(png, offset + 4, 4);
            byte[] data = png.AsSpan(offset + 8, length).ToArray();
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length));
            chunks.Add(new Chunk(type, data, crc == Crc(png.AsSpan(offset + 4, 4 + length))));
            offset += 12 + length;
        }
        return chunks;
    }

    /// <summary>Serialises one chunk with a correct CRC.</summary>
    public static byte[] MakeChunk(string type, byte[] data)
    {
        var bytes = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)data.Length);
        Encoding.ASCII.GetBytes(type).CopyTo(bytes, 4);
        data.CopyTo(bytes, 8);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8 + data.Length), Crc(bytes.AsSpan(4, 4 + data.Length)));
        return bytes;
    }

    /// <summary>Inserts <paramref name="chunk"/> right before IEND.</summary>
    public static byte[] InsertBeforeIend(byte[] png, byte[] chunk)
    {
        int iend = png.Length - 12;
        Assert.Equal("IEND", Encoding.ASCII.GetString(png, iend + 4, 4));
        return [.. png[..iend], .. chunk, .. png[iend..]];
    }
}
