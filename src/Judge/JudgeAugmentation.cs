using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Judge;

/// <summary>
/// How hard <see cref="JudgeAugmentation"/> distorts training images. The defaults cover what generated 64-px emoji do
/// differently from clean renderings: off-centre and rescaled drawings, tilt, washed-out or shifted colours, blur, noise
/// and tinted backgrounds. Hue is never rotated and images are never mirrored: a red heart and a green heart, or an
/// arrow pointing left and one pointing right, are different emoji.
/// </summary>
/// <param name="BackgroundProbability">Chance that the (near-)white background is replaced by a random flat colour.</param>
/// <param name="MinScale">Smallest zoom of the drawing (0.7: it may shrink to 70% of its size).</param>
/// <param name="MaxScale">Largest zoom (1.15: up to 15% larger, cropping its rim).</param>
/// <param name="MaxRotationDegrees">Rotation drawn uniformly in ±this.</param>
/// <param name="MaxTranslation">Shift in ±this fraction of the half-width (0.15 ≈ 5 px at 64 px).</param>
/// <param name="Brightness">Additive brightness in ±this (images are in [-1, 1]).</param>
/// <param name="Contrast">Contrast factor in [1 − this, 1 + this].</param>
/// <param name="Saturation">Saturation factor in [1 − this, 1 + this].</param>
/// <param name="BlurProbability">Chance of a down- and up-sampling blur to 45-75% of the size.</param>
/// <param name="MaxNoise">Gaussian noise with a standard deviation drawn from [0, this].</param>
public sealed record AugmentationOptions(
    double BackgroundProbability = 0.35,
    double MinScale = 0.7,
    double MaxScale = 1.15,
    double MaxRotationDegrees = 12,
    double MaxTranslation = 0.15,
    double Brightness = 0.15,
    double Contrast = 0.3,
    double Saturation = 0.35,
    double BlurProbability = 0.35,
    double MaxNoise = 0.08)
{
    /// <summary>No augmentation at all (every probability and range 0).</summary>
    public static AugmentationOptions None { get; } = new(0, 1, 1, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>Random, seeded distortions of a batch of training images for the judge (see <see cref="AugmentationOptions"/>).</summary>
/// <remarks>Every draw comes from the given generator, in a fixed order, so a seed reproduces a batch bit for bit and a
/// checkpoint that saves the generator resumes the same stream.</remarks>
public static class JudgeAugmentation
{
    static readonly double[] BlurFactors = [0.45, 0.55, 0.65, 0.75];

    /// <summary>Returns a distorted copy of <paramref name="x"/>.</summary>
    /// <param name="x">[B, 3, S, S] in [-1, 1] (not changed).</param>
    /// <param name="options">How hard.</param>
    /// <param name="generator">Every random draw's source.</param>
    /// <returns>[B, 3, S, S] in [-1, 1].</returns>
    public static Tensor Apply(Tensor x, AugmentationOptions options, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(generator);
        // x: [B, 3, S, S] -> [B, 3, S, S]
        long b = x.shape[0], s = x.shape[2];
        using var scope = NewDisposeScope();
        Tensor U(double lo, double hi, params long[] shape)                  // uniform in [lo, hi)
        {
            using var width = (hi - lo).ToScalar();
            using var low = lo.ToScalar();
            return rand(shape, generator: generator).mul(width).add(low, Scalars.One);
        }

        // 1. Background: near-white pixels (every channel above 0.94) take a random flat colour for some images.
        var white = x.amin([1L], keepdim: true).gt(Scalars.Of(0.94)).to(ScalarType.Float32);         // [B, 1, S, S]
        var recolour = U(0, 1, b, 1, 1, 1).lt(Scalars.Of(options.BackgroundProbability));          // [B, 1, 1, 1]
        var colour = U(-1, 1, b, 3, 1, 1);                                                             // [B, 3, 1, 1]
        var background = where(recolour, colour, ones_like(colour));                                   // white or a colour
        x = x.add(background.sub(x).mul(white), Scalars.One);

        // 2. Geometry: zoom, rotation and shift through one affine grid; the rim is filled with the background.
        var zoom = U(options.MinScale, options.MaxScale, b);
        var angle = U(-options.MaxRotationDegrees, options.MaxRotationDegrees, b).mul(Scalars.Of(Math.PI / 180));
        var tx = U(-options.MaxTranslation, options.MaxTranslation, b);
        var ty = U(-options.MaxTranslation, options.MaxTranslation, b);
        var cos = angle.cos().div(zoom);
        var sin = angle.sin().div(zoom);
        var theta = stack([cos, sin.neg(), tx, sin, cos, ty], 1).view(b, 2, 3);                        // [B, 2, 3]
        var grid = nn.functional.affine_grid(theta, [b, 3, s, s], align_corners: false);               // [B, S, S, 2]
        x = nn.functional.grid_sample(x.sub(background), grid, align_corners: false).add(background, Scalars.One);

        // 3. Colour: contrast around each image's mean, saturation around its grey, additive brightness (no hue).
        var contrast = U(1 - options.Contrast, 1 + options.Contrast, b, 1, 1, 1);
        var mean = x.mean([1L, 2L, 3L], keepdim: true);
        x = x.sub(mean).mul(contrast).add(mean, Scalars.One);
        var saturation = U(1 - options.Saturation, 1 + options.Saturation, b, 1, 1, 1);
        var grey = x.mean([1L], keepdim: true);
        x = x.sub(grey).mul(saturation).add(grey, Scalars.One);
        x = x.add(U(-options.Brightness, options.Brightness, b, 1, 1, 1), Scalars.One);

        // 4. Blur for some images: down to 45-75% of the size and back (one factor per batch).
        var blurred = U(0, 1, b, 1, 1, 1).lt(Scalars.Of(options.BlurProbability));
        long small = Math.Max(2, (long)Math.Round(s * BlurFactors[(int)(U(0, 1, 1).item<float>() * BlurFactors.Length) % BlurFactors.Length]));
        var down = nn.functional.interpolate(x, [small, small], mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
        var up = nn.functional.interpolate(down, [s, s], mode: InterpolationMode.Bilinear, align_corners: false);
        x = where(blurred, up, x);

        // 5. Noise with a per-image standard deviation, then back into range.
        var sigma = U(0, options.MaxNoise, b, 1, 1, 1);
        x = x.add(randn(x.shape, generator: generator).mul(sigma), Scalars.One);
        return x.clamp(Scalars.Of(-1.0), Scalars.One).MoveToOuterDisposeScope();
    }
}
