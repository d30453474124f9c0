using Latent.Core.Engine;
using Latent.Core.IO;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Imaging;

/// <summary>
/// Reads images into the tensors the models see and writes tensors back as PNG. An image tensor is float32
/// <c>[C=3, H, W]</c> (or a batch <c>[B, 3, H, W]</c>) with values in [-1, 1]; pixel byte <c>p</c> maps to
/// <c>p / 127.5 - 1</c>.
/// </summary>
/// <remarks>
/// Decoding goes through Skia's codecs, so PNG, JPEG, WebP, GIF (first frame), BMP, ICO and WBMP all load. Transparent
/// pixels are composited on white: with straight (unpremultiplied) alpha <c>a</c> in [0, 1],
/// <c>out = a * rgb + (1 - a) * 255</c>, computed in float from the decoder's unpremultiplied bytes, so a 50%-alpha
/// red pixel (255, 0, 0, 128) becomes (255, 127, 127) exactly. No colour-space conversion is applied (bytes are taken
/// as they are stored, as PIL does) and the EXIF orientation of JPEGs is not applied.
/// </remarks>
public static class ImageIO
{
    /// <summary>Reads the image file at <paramref name="path"/> into a <c>[3, H, W]</c> tensor in [-1, 1].</summary>
    /// <param name="path">A file Skia can decode (PNG, JPEG, WebP, ...).</param>
    /// <param name="size">Resize to this size (see <see cref="Decode(byte[], ImageSize?, string)"/>); null keeps the file's size.</param>
    /// <returns>A new float32 CPU tensor the caller owns.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not an image, or is truncated or corrupt; the message names the path.</exception>
    public static Tensor Load(string path, ImageSize? size = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"image file not found: '{path}'", path);
        return Decode(ReadBytes(path), size, path);
    }

    /// <summary>The largest image file read: 256 MiB (a 8192x8192 RGBA PNG of noise is about 260 MB uncompressed; real
    /// images are far smaller). Anything larger, or a device like /dev/zero, is refused before it is read.</summary>
    public const long MaxFileBytes = 256L << 20;

    /// <summary>The most pixels decoded: 8192 x 8192 (the decoded RGBA is then 256 MiB). A PNG header may declare 65535 x
    /// 65535 in 72 bytes; the declared size is checked before any pixel buffer exists.</summary>
    public const long MaxPixels = 8192L * 8192;

    /// <summary>The bytes of an image file: a regular file of at most <see cref="MaxFileBytes"/>, read without following a
    /// device or FIFO.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">It is not a regular file (a FIFO, a device); the message names the path.</exception>
    /// <exception cref="InvalidDataException">It is larger than the cap; the message names the path.</exception>
    public static byte[] ReadBytes(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"image file not found: '{path}'", path);
        FileKind.RequireRegularForRead(path, "image");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (stream.Length > MaxFileBytes)
            throw new InvalidDataException($"image '{path}' is {stream.Length} bytes; expected at most {MaxFileBytes} ({MaxFileBytes >> 20} MiB)");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>An image file's size from its header, after the checks of <see cref="ReadBytes"/> and <see cref="CheckDeclaredSize"/>; no pixel is decoded.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">Not a regular file.</exception>
    /// <exception cref="InvalidDataException">Too large, not an image, or declaring too many pixels.</exception>
    public static (int Width, int Height) ReadSize(string path)
    {
        byte[] encoded = ReadBytes(path);
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException(
            $"{path}: not an image Skia can decode (expected PNG, JPEG, WebP, GIF, BMP, ICO or WBMP)");
        CheckDeclaredSize(codec.Info.Width, codec.Info.Height, path);
        return (codec.Info.Width, codec.Info.Height);
    }

    /// <summary>Refuses a declared size with no pixels or more than <see cref="MaxPixels"/>, before decoding.</summary>
    /// <exception cref="InvalidDataException">The size is out of range; the message names the source and the size.</exception>
    public static void CheckDeclaredSize(int width, int height, string source)
    {
        if (width <= 0 || height <= 0 || (long)width * height > MaxPixels)
            throw new InvalidDataException(
                $"{source}: declares {width}x{height} pixels; expected at least 1x1 and at most {MaxPixels / 1_000_000} million pixels (e.g. 8192x8192)");
    }

    /// <summary>Reads several image files into one <c>[B, 3, H, W]</c> batch, in the order given.</summary>
    /// <param name="paths">One or more image files.</param>
    /// <param name="size">Resize every image to this size; null requires all files to have the same size.</param>
    /// <returns>A new float32 CPU tensor the caller owns.</returns>
    /// <exception cref="ArgumentException"><paramref name="paths"/> is empty, or sizes differ and no size was given.</exception>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is not a decodable image.</exception>
    public static Tensor LoadBatch(IReadOnlyList<string> paths, ImageSize? size = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Count == 0)
            throw new ArgumentException("expected at least one image path; got none", nameof(paths));
        using var scope = NewDisposeScope();
        var images = new Tensor[paths.Count];
        for (int i = 0; i < paths.Count; i++)
        {
            images[i] = Load(paths[i], size);
            if (images[i].shape[1] != images[0].shape[1] || images[i].shape[2] != images[0].shape[2])
                throw new ArgumentException(
                    $"images in a batch must share one size: '{paths[0]}' is {images[0].shape[2]}x{images[0].shape[1]} " +
                    $"but '{paths[i]}' is {images[i].shape[2]}x{images[i].shape[1]}; pass a size to resize them", nameof(paths));
        }
        // [3, H, W] x B -> [B, 3, H, W]
        return stack(images).MoveToOuterDisposeScope();
    }

    /// <summary>Decodes encoded image bytes into a <c>[3, H, W]</c> tensor in [-1, 1], alpha composited on white.</summary>
    /// <param name="encoded">The bytes of a PNG, JPEG, WebP or other format Skia decodes.</param>
    /// <param name="size">
    /// Resize to this size; null keeps the decoded size. Enlarging uses the Catmull-Rom cubic; shrinking uses an
    /// area-quality box pyramid (see <see cref="ImageResampler"/>). The aspect ratio is not preserved.
    /// </param>
    /// <param name="source">What the bytes are, for error messages (a path, a URL, "upload").</param>
    /// <returns>A new float32 CPU tensor the caller owns.</returns>
    /// <exception cref="InvalidDataException">The bytes are empty, not an image, or truncated/corrupt.</exception>
    public static Tensor Decode(byte[] encoded, ImageSize? size = null, string source = "image bytes")
    {
        ArgumentNullException.ThrowIfNull(encoded);
        size?.Validate(nameof(size));
        if (encoded.Length == 0)
            throw new InvalidDataException($"{source}: is empty (0 bytes); expected an encoded image (PNG, JPEG, WebP, ...)");

        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException(
            $"{source}: not an image Skia can decode (expected PNG, JPEG, WebP, GIF, BMP, ICO or WBMP); " +
            $"first bytes: {Convert.ToHexString(encoded, 0, Math.Min(8, encoded.Length))}");

        int w = codec.Info.Width, h = codec.Info.Height;
        CheckDeclaredSize(w, h, source);
        bool resize = size is { } s && (s.Width != w || s.Height != h);
        // Straight alpha when the size is kept (exact compositing); premultiplied when resampling, because filtering
        // straight-alpha pixels bleeds the colour of invisible pixels into visible ones.
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, resize ? SKAlphaType.Premul : SKAlphaType.Unpremul);
        var pixels = new byte[info.BytesSize];
        SKCodecResult result = codec.GetPixels(info, pixels);
        if (result != SKCodecResult.Success)
            throw new InvalidDataException(
                $"{source}: the {codec.EncodedFormat} data is truncated or corrupt (Skia: {result}); a {w}x{h} image was expected");

        if (!resize)
            return RgbaToTensor(pixels, w, h, premultiplied: false);
        ImageSize target = size!.Value;
        byte[] scaled = ImageResampler.Resize(pixels, w, h, target);
        return RgbaToTensor(scaled, target.Width, target.Height, premultiplied: true);
    }

    /// <summary>Encodes a <c>[3, H, W]</c> (RGB) or <c>[1, H, W]</c> (gray) tensor in [-1, 1] as PNG bytes.</summary>
    /// <param name="image">Values are clamped to [-1, 1] and mapped to bytes by <c>round((x + 1) * 127.5)</c>.</param>
    /// <returns>An 8-bit RGB or gray PNG without an alpha channel.</returns>
    /// <exception cref="ArgumentException">The shape is not <c>[3, H, W]</c> or <c>[1, H, W]</c> (a batch must be saved one image at a time), or the tensor holds NaN.</exception>
    public static byte[] EncodePng(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        (byte[] bytes, int channels, int h, int w) = TensorToBytes(image);
        var colorType = channels == 3 ? SKColorType.Rgba8888 : SKColorType.Gray8;
        byte[] pixels = channels == 3 ? RgbToRgba(bytes) : bytes;
        var info = new SKImageInfo(w, h, colorType, SKAlphaType.Opaque);
        unsafe
        {
            fixed (byte* p = pixels)
            {
                using var pixmap = new SKPixmap(info, (IntPtr)p, info.RowBytes);
                using SKData png = pixmap.Encode(SKPngEncoderOptions.Default)
                    ?? throw new InvalidOperationException($"Skia failed to encode a {w}x{h} PNG");
                return png.ToArray();
            }
        }
    }

    /// <summary>Writes <paramref name="image"/> as a PNG file, atomically (see <see cref="AtomicFile"/>).</summary>
    /// <param name="image">A <c>[3, H, W]</c> or <c>[1, H, W]</c> tensor in [-1, 1].</param>
    /// <param name="path">The target file; its directory is created when missing.</param>
    /// <exception cref="ArgumentException">As for <see cref="EncodePng"/>.</exception>
    public static void SavePng(Tensor image, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllBytes(path, EncodePng(image));
    }

    /// <summary>Composites RGBA8888 bytes on white and maps them to a <c>[3, H, W]</c> tensor in [-1, 1].</summary>
    static Tensor RgbaToTensor(byte[] rgba, int w, int h, bool premultiplied)
    {
        int plane = w * h;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
        {
            int a = rgba[4 * i + 3];
            for (int c = 0; c < 3; c++)
            {
                int v = rgba[4 * i + c];
                // out = a*rgb + (1-a)*255 in byte units; a premultiplied value already holds a*rgb.
                float composited = premultiplied ? v + (255 - a) : v * a / 255f + (255 - a);
                chw[c * plane + i] = composited / 127.5f - 1f;
            }
        }
        return tensor(chw, new long[] { 3, h, w });
    }

    /// <summary>Validates an image tensor and converts it to HWC bytes.</summary>
    static (byte[] Bytes, int Channels, int Height, int Width) TensorToBytes(Tensor image)
    {
        long[] shape = image.shape;
        if (shape.Length != 3 || (shape[0] != 3 && shape[0] != 1) || shape[1] <= 0 || shape[2] <= 0)
        {
            string hint = shape.Length == 4 ? " (a batch: save each image[i] to its own file)" : "";
            throw new ArgumentException(
                $"expected an image tensor [3, H, W] or [1, H, W]; got [{string.Join(", ", shape)}]{hint}", nameof(image));
        }
        if (!image.is_floating_point())
            throw new ArgumentException($"expected a floating-point image tensor in [-1, 1]; got {image.dtype}", nameof(image));
        using var scope = NewDisposeScope();
        Tensor x = image.detach().to(ScalarType.Float32, CPU);
        if (isnan(x).any().item<bool>())
            throw new ArgumentException($"the image tensor [{string.Join(", ", shape)}] contains NaN", nameof(image));
        // [C, H, W] in [-1, 1] -> [H, W, C] bytes
        Tensor bytes = x.clamp(Scalars.Of(-1), Scalars.One).add(Scalars.One, Scalars.One).mul(Scalars.Of(127.5)).round()
            .to(ScalarType.Byte).permute(1, 2, 0).contiguous();
        return (bytes.data<byte>().ToArray(), (int)shape[0], (int)shape[1], (int)shape[2]);
    }

    static byte[] RgbToRgba(byte[] rgb)
    {
        var rgba = new byte[rgb.Length / 3 * 4];
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgba[j] = rgb[i];
            rgba[j + 1] = rgb[i + 1];
            rgba[j + 2] = rgb[i + 2];
            rgba[j + 3] = 255;
        }
        return rgba;
    }
}
