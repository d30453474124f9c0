using Latent.Core.Engine;
using Latent.Vae.Evaluation;
using static TorchSharp.torch;

namespace Latent.Vae.Tests.Evaluation;

public sealed class ImageMetricsTests
{
    /// <summary>
    /// [2, 3, 16, 16] float64 images: x(c, i, j) = ((3i + 5j + 7c) mod 17) / 16; y1 = clamp(x + 0.1 sin(0.7i + 1.3j + c), 0, 1)
    /// (a mild distortion); y2(c, i, j) = ((ij + c) mod 13) / 12 (an unrelated image).
    /// </summary>
    static (Tensor X, Tensor Y) Pair()
    {
        var x = new double[2 * 3 * 16 * 16];
        var y = new double[x.Length];
        for (int b = 0; b < 2; b++)
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
        {
            int k = ((b * 3 + c) * 16 + i) * 16 + j;
            x[k] = (3 * i + 5 * j + 7 * c) % 17 / 16.0;
            y[k] = b == 0 ? Math.Clamp(x[k] + 0.1 * Math.Sin(i * 0.7 + j * 1.3 + c), 0, 1) : (i * j + c) % 13 / 12.0;
        }
        return (tensor(x, new long[] { 2, 3, 16, 16 }), tensor(y, new long[] { 2, 3, 16, 16 }));
    }

    [Fact]
    public void Psnr_ConstantError_IsTenLog10OfInverseMse()
    {
        using var a = zeros(1, 3, 8, 8);
        using var b = full(new long[] { 1, 3, 8, 8 }, Scalars.Of(0.1));
        // MSE = 0.01 -> 10 log10(100) = 20 dB (float32 0.1 is 0.100000001490116, hence the tolerance)
        Assert.Equal(20.0, ImageMetrics.Psnr(a, b)[0], 6);
    }

    [Fact]
    public void Psnr_IdenticalImages_IsInfinite()
    {
        using var a = rand(2, 3, 8, 8);
        Assert.All(ImageMetrics.Psnr(a, a), v => Assert.Equal(double.PositiveInfinity, v));
    }

    [Fact]
    public void Psnr_MatchesNumPy()
    {
        var (x, y) = Pair();
        using var _x = x;
        using var _y = y;
        double[] psnr = ImageMetrics.Psnr(x, y);
        // Debian python3-numpy 1.24.2: 10*np.log10(1/np.mean((a-b)**2)) per image
        Assert.Equal(23.38506131243765, psnr[0], 10);
        Assert.Equal(6.9567575278290175, psnr[1], 10);
    }

    [Fact]
    public void Ssim_MatchesScipyGaussianFilterReference()
    {
        var (x, y) = Pair();
        using var _x = x;
        using var _y = y;
        double[] ssim = ImageMetrics.Ssim(x, y);
        // Computed independently with Debian's python3-scipy 1.10.1 the way scikit-image does it:
        // scipy.ndimage.gaussian_filter(t, sigma=1.5, truncate=3.5, mode='reflect') for mu, sigma^2 and sigma_xy (an
        // 11-tap window), Wang et al.'s formula with C1 = 0.01^2 and C2 = 0.03^2, the 5-pixel border cropped, then the
        // mean over the 6x6 valid positions and the 3 channels.
        Assert.Equal(0.9759898586813848, ssim[0], 10);
        Assert.Equal(0.013629279893540196, ssim[1], 10);
    }

    [Fact]
    public void Ssim_IdenticalImages_IsOne()
    {
        using var a = rand(2, 3, 16, 16);
        Assert.All(ImageMetrics.Ssim(a, a), v => Assert.Equal(1.0, v, 9));
    }

    [Fact]
    public void Ssim_ThrowsForImagesSmallerThanTheWindow()
    {
        using var a = zeros(1, 3, 8, 8);
        var e = Assert.Throws<ArgumentException>(() => ImageMetrics.Ssim(a, a));
        Assert.Contains("at least 11x11", e.Message);
    }

    [Fact]
    public void Psnr_ThrowsForMismatchedShapes()
    {
        using var a = zeros(1, 3, 8, 8);
        using var b = zeros(1, 3, 8, 9);
        var e = Assert.Throws<ArgumentException>(() => ImageMetrics.Psnr(a, b));
        Assert.Contains("[1, 3, 8, 9]", e.Message);
    }

    [Fact]
    public void ToUnitRange_MapsMinusOneToOneAndClamps()
    {
        using var x = tensor(new float[] { -2f, -1f, 0f, 1f, 3f });
        using var y = ImageMetrics.ToUnitRange(x);
        Assert.Equal(new float[] { 0f, 0f, 0.5f, 1f, 1f }, y.data<float>().ToArray());
    }
}
