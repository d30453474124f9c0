using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Vae.Evaluation;

/// <summary>Full-reference image quality metrics on images in [0, 1]: PSNR and SSIM, per image.</summary>
public static class ImageMetrics
{
    /// <summary>SSIM's Gaussian window side (Wang et al.: 11).</summary>
    public const int SsimWindow = 11;

    /// <summary>SSIM's Gaussian window σ (Wang et al.: 1.5).</summary>
    public const double SsimSigma = 1.5;

    /// <summary>SSIM's K1 (0.01): C1 = (K1·L)² with the data range L = 1.</summary>
    public const double SsimK1 = 0.01;

    /// <summary>SSIM's K2 (0.03): C2 = (K2·L)².</summary>
    public const double SsimK2 = 0.03;

    /// <summary>Maps images in [-1, 1] (the project's convention) to [0, 1], clamping what lies outside.</summary>
    /// <param name="x">Any shape.</param>
    /// <returns>(x + 1) / 2 clamped to [0, 1]; the caller owns it.</returns>
    public static Tensor ToUnitRange(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        return x.add(Scalars.Of(1.0), Scalars.One).mul(Scalars.Of(0.5))
            .clamp(Scalars.Of(0.0), Scalars.Of(1.0)).MoveToOuterDisposeScope();
    }

    /// <summary>PSNR per image: 10 · log10(1 / MSE), the MSE over C, H and W, computed in float64.</summary>
    /// <param name="reference">[B, C, H, W] in [0, 1].</param>
    /// <param name="test">[B, C, H, W] in [0, 1].</param>
    /// <returns>B values in dB; +∞ for identical images.</returns>
    /// <exception cref="ArgumentException">The shapes differ or are not 4-D.</exception>
    public static double[] Psnr(Tensor reference, Tensor test)
    {
        CheckPair(reference, test);
        using var scope = NewDisposeScope();
        // [B, C, H, W] -> [B]
        var mse = reference.to(ScalarType.Float64).sub(test.to(ScalarType.Float64)).pow(Scalars.Of(2)).mean(new long[] { 1, 2, 3 });
        return mse.data<double>().ToArray().Select(m => m == 0 ? double.PositiveInfinity : 10.0 * Math.Log10(1.0 / m)).ToArray();
    }

    /// <summary>
    /// SSIM per image, Wang et al. (2004) with an 11x11 Gaussian window of σ = 1.5 (normalised to sum 1), K1 = 0.01,
    /// K2 = 0.03 and data range 1, over the "valid" window positions only (as the paper's MATLAB code and scikit-image,
    /// which crops the padded border), averaged over positions and channels; float64.
    /// </summary>
    /// <remarks>With μ, σ² and σ_xy the Gaussian-weighted local means, variances and covariance:
    /// SSIM = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)).</remarks>
    /// <param name="reference">[B, C, H, W] in [0, 1], H and W at least 11.</param>
    /// <param name="test">[B, C, H, W] in [0, 1].</param>
    /// <returns>B values, 1 for identical images.</returns>
    /// <exception cref="ArgumentException">The shapes differ, are not 4-D, or are smaller than the window.</exception>
    public static double[] Ssim(Tensor reference, Tensor test)
    {
        CheckPair(reference, test);
        if (reference.shape[2] < SsimWindow || reference.shape[3] < SsimWindow)
            throw new ArgumentException(
                $"SSIM needs images of at least {SsimWindow}x{SsimWindow}; got {reference.shape[3]}x{reference.shape[2]}", nameof(reference));
        using var scope = NewDisposeScope();
        long channels = reference.shape[1];
        var x = reference.to(ScalarType.Float64);
        var y = test.to(ScalarType.Float64);
        // 1-D Gaussian [11] -> separable 2-D window [C, 1, 11, 11] for a depthwise conv
        Scalar two = Scalars.Of(2), one = Scalars.One;
        var offsets = arange(Scalars.Of(0), Scalars.Of(SsimWindow), one, dtype: ScalarType.Float64)
            .sub(Scalars.Of((SsimWindow - 1) / 2.0));                                      // [0, 11) - 5
        var g = offsets.pow(two).div(Scalars.Of(-2.0 * SsimSigma * SsimSigma)).exp();
        g = g.div(g.sum());
        var window = g.unsqueeze(1).mul(g.unsqueeze(0)).expand(channels, 1, SsimWindow, SsimWindow).contiguous();
        Tensor Filter(Tensor t) => nn.functional.conv2d(t, window, groups: channels);   // [B, C, H, W] -> [B, C, H-10, W-10]
        var muX = Filter(x);
        var muY = Filter(y);
        var sigmaX = Filter(x.mul(x)).sub(muX.pow(two));
        var sigmaY = Filter(y.mul(y)).sub(muY.pow(two));
        var sigmaXY = Filter(x.mul(y)).sub(muX.mul(muY));
        Scalar c1 = Scalars.Of(SsimK1 * SsimK1), c2 = Scalars.Of(SsimK2 * SsimK2);
        var map = muX.mul(muY).mul(two).add(c1, one).mul(sigmaXY.mul(two).add(c2, one))
            .div(muX.pow(two).add(muY.pow(two), one).add(c1, one).mul(sigmaX.add(sigmaY, one).add(c2, one)));
        // [B, C, h, w] -> [B]
        return map.mean(new long[] { 1, 2, 3 }).data<double>().ToArray();
    }

    private static void CheckPair(Tensor reference, Tensor test)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(test);
        if (reference.dim() != 4 || !reference.shape.SequenceEqual(test.shape))
            throw new ArgumentException(
                $"expected two image batches [B, C, H, W] of one shape; got [{string.Join(", ", reference.shape)}] and [{string.Join(", ", test.shape)}]",
                nameof(test));
    }
}
