using Latent.Pipeline.Metadata;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// One generated image as PNG bytes carrying its settings in AUTOMATIC1111's <c>parameters</c> text chunk: the one
/// encoder that <c>latent txt2img</c>'s files and <c>latent serve</c>'s base64 images both use.
/// </summary>
public static class GenerationPng
{
    // PNG's 8-byte signature and its first chunk, IHDR (length, type, 13 data bytes, CRC): every encoder writes them first.
    const int HeaderBytes = 8 + 4 + 4 + 13 + 4;

    /// <summary>Encodes <paramref name="image"/> as PNG with <paramref name="parameters"/>' A1111 text under <c>parameters</c>,
    /// right after IHDR as A1111 writes it (tEXt in Latin-1, else iTXt in UTF-8).</summary>
    /// <param name="image">One image, [3, H, W] in [-1, 1] (e.g. <c>result.Images[i]</c>).</param>
    /// <param name="parameters">How it was made (e.g. <c>result.Parameters[i]</c>).</param>
    /// <exception cref="ArgumentException">The shape is not [3, H, W] or [1, H, W], the tensor holds NaN, or the text holds a NUL character.</exception>
    public static byte[] Encode(Tensor image, GenerationParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        string text = parameters.Format();
        if (text.Contains('\0'))
            throw new ArgumentException($"the text for PNG keyword '{GenerationParameters.PngKeyword}' contains a NUL character, which text chunks cannot hold", nameof(parameters));
        byte[] png = ImageIO.EncodePng(image);
        if (png.Length < HeaderBytes || Encoding.ASCII.GetString(png, 12, 4) != "IHDR")
            throw new InvalidOperationException("the PNG encoder did not start with IHDR");
        // Written once: signature and IHDR, our text chunk, then the encoder's other chunks as they are (PngText.Write
        // would parse and check every chunk again; this is the one place that makes these bytes).
        byte[] key = Encoding.Latin1.GetBytes(GenerationParameters.PngKeyword);
        bool latin1 = text.All(c => c <= '\u00FF');
        // tEXt: keyword NUL text(Latin-1); iTXt: keyword NUL flag(0) method(0) language NUL translated-keyword NUL text(UTF-8)
        byte[] data = latin1 ? [.. key, 0, .. Encoding.Latin1.GetBytes(text)] : [.. key, 0, 0, 0, 0, 0, .. Encoding.UTF8.GetBytes(text)];
        using var output = new MemoryStream(png.Length + data.Length + 12);
        output.Write(png, 0, HeaderBytes);
        Span<byte> field = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(field, data.Length);
        output.Write(field);
        byte[] type = Encoding.ASCII.GetBytes(latin1 ? "tEXt" : "iTXt");
        output.Write(type);
        output.Write(data);
        var crc = new Crc32();
        crc.Append(type);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(field, crc.GetCurrentHashAsUInt32());
        output.Write(field);
        output.Write(png, HeaderBytes, png.Length - HeaderBytes);
        return output.ToArray();
    }
}
