using Latent.Core.Engine;
using Latent.Core.Imaging;
using SkiaSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Imaging;

public class ImageIOTests
{
    static float Level(int p) => p / 127.5f - 1f;

    static float[] Values(Tensor t) => t.data<float>().ToArray();

    // ---- decoding ----

    [Fact]
    public void Decode_Png_GivesChwShapeAndExactLevels()
    {
        using var scope = NewDisposeScope();
        byte[] png = TestImages.Encode(4, 3, (x, y) => new SKColor((byte)(x * 60), (byte)(y * 100), 7));
        using Tensor t = ImageIO.Decode(png);
        Assert.Equal(new long[] { 3, 3, 4 }, t.shape);
        Assert.Equal(ScalarType.Float32, t.dtype);
        Assert.Equal(Level(3 * 60), t[0, 1, 3].item<float>());
        Assert.Equal(Level(2 * 100), t[1, 2, 0].item<float>());
        Assert.Equal(Level(7), t[2, 0, 0].item<float>());
    }

    [Fact]
    public void Decode_ValuesStayInMinusOneToOne()
    {
        using var scope = NewDisposeScope();
        using Tensor t = ImageIO.Decode(TestImages.Noise(16, 16, seed: 1));
        Assert.True(t.min().item<float>() >= -1f);
        Assert.True(t.max().item<float>() <= 1f);
    }

    [Fact]
    public void Decode_Jpeg_ApproximatesColour()
    {
        using var scope = NewDisposeScope();
        byte[] jpeg = TestImages.Encode(16, 16, (_, _) => new SKColor(200, 100, 50), SKEncodedImageFormat.Jpeg, 95);
        Assert.Equal(0xFF, jpeg[0]);
        using Tensor t = ImageIO.Decode(jpeg);
        Assert.Equal(new long[] { 3, 16, 16 }, t.shape);
        Assert.Equal(Level(200), t[0].mean().item<float>(), 0.03f);
        Assert.Equal(Level(100), t[1].mean().item<float>(), 0.03f);
        Assert.Equal(Level(50), t[2].mean().item<float>(), 0.03f);
    }

    [Fact]
    public void Decode_LosslessWebP_IsExact()
    {
        using var scope = NewDisposeScope();
        byte[] webp = TestImages.Encode(5, 4, (x, y) => new SKColor((byte)(x * 50), (byte)(y * 60), 255), SKEncodedImageFormat.Webp);
        Assert.Equal("RIFF", System.Text.Encoding.ASCII.GetString(webp, 0, 4));
        using Tensor t = ImageIO.Decode(webp);
        Assert.Equal(new long[] { 3, 4, 5 }, t.shape);
        Assert.Equal(Level(200), t[0, 3, 4].item<float>());
        Assert.Equal(Level(180), t[1, 3, 4].item<float>());
    }

    [Fact]
    public void Decode_AlphaIsCompositedOnWhite()
    {
        using var scope = NewDisposeScope();
        // (0,0): 50%-alpha red; (1,0): fully transparent black; (2,0): opaque blue.
        SKColor[] row = [new(255, 0, 0, 128), new(0, 0, 0, 0), new(0, 0, 255, 255)];
        using Tensor t = ImageIO.Decode(TestImages.Encode(3, 1, (x, _) => row[x]));
        // out = a*rgb + (1-a)*255 with a = 128/255: red 128 + 127 = 255, green and blue 0 + 127 = 127.
        Assert.Equal(new[] { 1f, Level(127), Level(127) }, Values(t[TensorIndex.Colon, 0, 0]));
        Assert.Equal(new[] { 1f, 1f, 1f }, Values(t[TensorIndex.Colon, 0, 1]));
        Assert.Equal(new[] { -1f, -1f, 1f }, Values(t[TensorIndex.Colon, 0, 2]));
    }

    [Fact]
    public void Decode_Resized_CompositesTransparentPixelsOnWhite()
    {
        using var scope = NewDisposeScope();
        using Tensor t = ImageIO.Decode(TestImages.Encode(8, 8, (_, _) => new SKColor(0, 0, 0, 0)), new ImageSize(4, 4));
        Assert.Equal(1f, t.min().item<float>());
    }

    [Theory]
    [InlineData(256, 128, 64, 32)]
    [InlineData(16, 16, 40, 24)]
    [InlineData(100, 30, 33, 60)]
    public void Decode_Resize_GivesRequestedShape(int w, int h, int tw, int th)
    {
        using Tensor t = ImageIO.Decode(TestImages.Noise(w, h, seed: 2), new ImageSize(tw, th));
        Assert.Equal(new long[] { 3, th, tw }, t.shape);
    }

    [Fact]
    public void Decode_Downscale_OfGradient_IsBoxAverage()
    {
        using var scope = NewDisposeScope();
        // Level x at column x; 256 -> 64 averages columns 4j..4j+3: 4j + 1.5.
        using Tensor t = ImageIO.Decode(TestImages.Gray(256, 8, (x, _) => (byte)x), new ImageSize(64, 2));
        float[] row = Values(t[0, 0]);
        for (int j = 0; j < 64; j++)
            Assert.InRange((row[j] + 1f) * 127.5f, 4 * j + 1.5f - 1f, 4 * j + 1.5f + 1f);
    }

    [Fact]
    public void Decode_Downscale_OfFineStripes_DoesNotAlias()
    {
        using var scope = NewDisposeScope();
        // White every third column: a single cubic tap per 4 pixels would give 0 or 255 by position; an area average
        // gives 1 or 2 white columns in 4 (63.75 or 127.5).
        using Tensor t = ImageIO.Decode(TestImages.Gray(256, 256, (x, _) => (byte)(x % 3 == 0 ? 255 : 0)), new ImageSize(64, 64));
        float[] row = Values(t[0, 10]);
        for (int j = 0; j < 64; j++)
        {
            double expected = Enumerable.Range(4 * j, 4).Count(x => x % 3 == 0) * 255 / 4.0;
            Assert.InRange((row[j] + 1f) * 127.5f, expected - 1, expected + 1);
        }
    }

    [Fact]
    public void Decode_Upscale_OfGradient_IsSmoothAndMonotonic()
    {
        using var scope = NewDisposeScope();
        using Tensor t = ImageIO.Decode(TestImages.Gray(16, 4, (x, _) => (byte)(x * 16)), new ImageSize(64, 4));
        float[] row = Values(t[0, 1]);
        for (int j = 1; j < 64; j++)
        {
            Assert.True(row[j] >= row[j - 1] - 1e-6f, $"column {j}: {row[j]} < {row[j - 1]}");
            Assert.True(row[j] - row[j - 1] <= 8 / 127.5f, $"column {j}: step {row[j] - row[j - 1]} too large");
        }
    }

    // ---- encoding ----

    [Fact]
    public void PngRoundTrip_IsBitExact()
    {
        using var scope = NewDisposeScope();
        byte[] original = TestImages.Noise(17, 9, seed: 3);
        using Tensor t = ImageIO.Decode(original);
        byte[] encoded = ImageIO.EncodePng(t);
        Assert.Equal(TestImages.DecodeRgba(original, out _, out _), TestImages.DecodeRgba(encoded, out int w, out int h));
        Assert.Equal((17, 9), (w, h));
        using Tensor again = ImageIO.Decode(encoded);
        Assert.True(t.equal(again).all().item<bool>());
        Assert.Equal(encoded, ImageIO.EncodePng(again));
    }

    [Fact]
    public void EncodePng_ClampsAndRoundsToNearest()
    {
        using var scope = NewDisposeScope();
        // (x + 1) * 127.5: -2 -> 0 (clamped), -1 -> 0, 0.5 -> 191.25 -> 191, 0.51 -> 192.525 -> 193, 1 -> 255, 3 -> 255.
        float[] xs = [-2f, -1f, 0.5f, 0.51f, 1f, 3f];
        using Tensor t = tensor(xs).view(1, 1, 6).expand(3, 1, 6).contiguous();
        byte[] rgba = TestImages.DecodeRgba(ImageIO.EncodePng(t), out _, out _);
        Assert.Equal(new byte[] { 0, 0, 191, 193, 255, 255 }, Enumerable.Range(0, 6).Select(i => rgba[4 * i]).ToArray());
        Assert.All(Enumerable.Range(0, 6), i => Assert.Equal(255, rgba[4 * i + 3]));
    }

    [Fact]
    public void EncodePng_Gray_WritesGrayPngThatDecodesToThreeEqualChannels()
    {
        using var scope = NewDisposeScope();
        using Tensor gray = linspace(-1, 1, 12).view(1, 3, 4);
        byte[] png = ImageIO.EncodePng(gray);
        Assert.Equal(0, MiniPng.Parse(png)[0].Data[9]); // IHDR colour type 0 = grayscale
        using Tensor back = ImageIO.Decode(png);
        Assert.True(back[0].equal(back[1]).all().item<bool>() && back[1].equal(back[2]).all().item<bool>());
        Assert.True((back[0] - gray[0]).abs().max().item<float>() <= 0.5f / 127.5f + 1e-6f);
    }

    [Fact]
    public void EncodePng_Rgb_HasNoAlphaChannel()
    {
        using Tensor t = zeros(3, 2, 2);
        Assert.Equal(2, MiniPng.Parse(ImageIO.EncodePng(t))[0].Data[9]); // IHDR colour type 2 = RGB
    }

    [Fact]
    public void SavePng_ThenLoad_GivesTheSameTensor_AndLeavesNoTempFile()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        string path = Path.Combine(dir, "sub", "img.png");
        using Tensor t = ImageIO.Decode(TestImages.Noise(8, 8, seed: 4));
        ImageIO.SavePng(t, path);
        using Tensor back = ImageIO.Load(path);
        Assert.True(t.equal(back).all().item<bool>());
        Assert.Equal(new[] { "img.png" }, Directory.GetFiles(Path.Combine(dir, "sub")).Select(Path.GetFileName));
    }

    [Fact]
    public void LoadBatch_StacksInOrder()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        string a = Path.Combine(dir, "a.png"), b = Path.Combine(dir, "b.jpg");
        File.WriteAllBytes(a, TestImages.Encode(8, 8, (_, _) => SKColors.Black));
        File.WriteAllBytes(b, TestImages.Encode(16, 16, (_, _) => SKColors.White, SKEncodedImageFormat.Jpeg, 90));
        using Tensor batch = ImageIO.LoadBatch([a, b], new ImageSize(8, 8));
        Assert.Equal(new long[] { 2, 3, 8, 8 }, batch.shape);
        Assert.Equal(-1f, batch[0].max().item<float>());
        Assert.True(batch[1].min().item<float>() > 0.95f);
    }

    // ---- validation: one test per rule ----

    [Fact]
    public void Load_ThrowsForMissingFile_NamingThePath()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "nope.png");
        var e = Assert.Throws<FileNotFoundException>(() => ImageIO.Load(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Load_ThrowsForNonImage_NamingThePath()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "notes.png");
        File.WriteAllText(path, "hello, not an image");
        var e = Assert.Throws<InvalidDataException>(() => ImageIO.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not an image", e.Message);
    }

    [Fact]
    public void Decode_ThrowsForEmptyBytes()
    {
        var e = Assert.Throws<InvalidDataException>(() => ImageIO.Decode([], source: "upload"));
        Assert.Contains("upload", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Decode_ThrowsForTruncatedData()
    {
        byte[] png = TestImages.Noise(64, 64, seed: 5);
        var e = Assert.Throws<InvalidDataException>(() => ImageIO.Decode(png[..(png.Length / 2)], source: "half.png"));
        Assert.Contains("half.png", e.Message);
        Assert.Contains("truncated or corrupt", e.Message);
    }

    [Fact]
    public void Decode_ThrowsForNonPositiveSize()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ImageIO.Decode(TestImages.Noise(4, 4, 6), new ImageSize(0, 4)));
        Assert.Contains("0x4", e.Message);
    }

    [Fact]
    public void LoadBatch_ThrowsForEmptyList() =>
        Assert.Throws<ArgumentException>(() => ImageIO.LoadBatch([]));

    [Fact]
    public void LoadBatch_ThrowsForMixedSizesWithoutTarget_NamingBothFiles()
    {
        string dir = TestEnvironment.NewTempDir();
        string a = Path.Combine(dir, "a.png"), b = Path.Combine(dir, "b.png");
        File.WriteAllBytes(a, TestImages.Noise(8, 8, 7));
        File.WriteAllBytes(b, TestImages.Noise(9, 8, 8));
        var e = Assert.Throws<ArgumentException>(() => ImageIO.LoadBatch([a, b]));
        Assert.Contains(a, e.Message);
        Assert.Contains("9x8", e.Message);
    }

    [Fact]
    public void EncodePng_ThrowsForBatch_WithShapeInMessage()
    {
        using Tensor batch = zeros(2, 3, 8, 8);
        var e = Assert.Throws<ArgumentException>(() => ImageIO.EncodePng(batch));
        Assert.Contains("[2, 3, 8, 8]", e.Message);
        Assert.Contains("batch", e.Message);
    }

    [Fact]
    public void EncodePng_ThrowsForFourChannels()
    {
        using Tensor rgba = zeros(4, 8, 8);
        var e = Assert.Throws<ArgumentException>(() => ImageIO.EncodePng(rgba));
        Assert.Contains("[4, 8, 8]", e.Message);
    }

    [Fact]
    public void EncodePng_ThrowsForIntegerTensor()
    {
        using Tensor bytes = zeros(3, 2, 2, ScalarType.Byte);
        Assert.Throws<ArgumentException>(() => ImageIO.EncodePng(bytes));
    }

    [Fact]
    public void EncodePng_ThrowsForNaN()
    {
        using Tensor t = full(3, 2, 2, Scalars.Of(float.NaN));
        var e = Assert.Throws<ArgumentException>(() => ImageIO.EncodePng(t));
        Assert.Contains("NaN", e.Message);
    }
}
