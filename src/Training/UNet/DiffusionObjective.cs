using Latent.Core.Engine;
using Latent.Schedulers;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.UNet;

/// <summary>
/// The pieces of the denoising loss, in DDPM notation: the regression target (ε or v), the signal-to-noise ratio
/// SNR_t = ᾱ_t / (1 − ᾱ_t), the min-SNR-γ weights and the noise offset, as diffusers' <c>train_text_to_image.py</c>.
/// </summary>
public static class DiffusionObjective
{
    /// <summary>SNR_t = ᾱ_t / (1 − ᾱ_t) = (sqrt(ᾱ_t) / sqrt(1 − ᾱ_t))², diffusers' <c>compute_snr</c>, in double.</summary>
    /// <param name="schedule">The noise schedule (its float32 ᾱ table).</param>
    /// <param name="t">A training timestep in [0, T).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="t"/> is outside [0, T).</exception>
    public static double Snr(NoiseSchedule schedule, long t)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (t < 0 || t >= schedule.NumTrainTimesteps)
            throw new ArgumentOutOfRangeException(nameof(t), t, $"expected a timestep in [0, {schedule.NumTrainTimesteps})");
        double abar = schedule.AlphasCumprod[t];
        return abar / (1 - abar);
    }

    /// <summary>
    /// The min-SNR-γ loss weight of timestep t (Hang et al. 2023, section 3.4, as diffusers writes it for a network that
    /// predicts ε or v): min(SNR_t, γ) / SNR_t for ε, min(SNR_t, γ) / (SNR_t + 1) for v; 1 when γ is 0 (off).
    /// </summary>
    /// <param name="schedule">The noise schedule.</param>
    /// <param name="t">A training timestep in [0, T).</param>
    /// <param name="gamma">γ (5 recommended); 0 turns the weighting off.</param>
    /// <param name="prediction">Epsilon or VPrediction.</param>
    /// <exception cref="ArgumentOutOfRangeException">γ is negative, t is out of range, or the prediction type is Sample.</exception>
    public static double MinSnrWeight(NoiseSchedule schedule, long t, double gamma, PredictionType prediction)
    {
        if (!(gamma >= 0)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "expected gamma >= 0 (0: off)");
        CheckPrediction(prediction);
        if (gamma == 0) return 1.0;
        double snr = Snr(schedule, t);
        double clipped = Math.Min(snr, gamma);
        return prediction == PredictionType.Epsilon ? clipped / snr : clipped / (snr + 1);
    }

    /// <summary>The regression target: ε itself, or v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x₀ (Salimans &amp; Ho 2022, eq. in §4),
    /// with the coefficients from the float32 ᾱ table as diffusers' <c>get_velocity</c>.</summary>
    /// <param name="schedule">The noise schedule.</param>
    /// <param name="x0">Clean latents [B, C, H, W].</param>
    /// <param name="noise">ε, the shape of <paramref name="x0"/>.</param>
    /// <param name="t">[B] int64 timesteps.</param>
    /// <param name="prediction">Epsilon or VPrediction.</param>
    /// <returns>[B, C, H, W]; the caller owns it.</returns>
    public static Tensor Target(NoiseSchedule schedule, Tensor x0, Tensor noise, long[] t, PredictionType prediction)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        CheckPrediction(prediction);
        if (prediction == PredictionType.Epsilon) return noise.clone();
        using var scope = NewDisposeScope();
        // x0, noise: [B, C, H, W]; coefficients [B] -> [B, 1, 1, 1]
        long[] coefShape = [t.Length, 1, 1, 1];
        var a = tensor(t.Select(i => MathF.Sqrt(schedule.AlphasCumprod[i])).ToArray()).to(x0.dtype).reshape(coefShape);
        var s = tensor(t.Select(i => MathF.Sqrt(1f - schedule.AlphasCumprod[i])).ToArray()).to(x0.dtype).reshape(coefShape);
        return (a * noise - s * x0).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Standard-normal noise for latents of <paramref name="shape"/> [B, C, H, W], plus offset · N(0, 1) per sample and
    /// channel ([B, C, 1, 1], broadcast over H, W) when the offset is positive (Guttenberg 2023, "noise offset"): lets
    /// the model shift a whole channel's mean, i.e. make very dark or bright images.
    /// </summary>
    /// <returns>[B, C, H, W] float32; the caller owns it.</returns>
    public static Tensor Noise(long[] shape, double offset, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(generator);
        if (shape.Length != 4) throw new ArgumentException($"expected a [B, C, H, W] shape, got [{string.Join(", ", shape)}]", nameof(shape));
        if (!(offset >= 0)) throw new ArgumentOutOfRangeException(nameof(offset), offset, "expected a noise offset >= 0");
        using var scope = NewDisposeScope();
        var noise = randn(shape, generator: generator);                                   // [B, C, H, W]
        if (offset > 0)
        {
            using var offsetS = offset.ToScalar();
            noise = noise.add(offsetS * randn(new long[] { shape[0], shape[1], 1, 1 }, generator: generator), Scalars.One);
        }
        return noise.MoveToOuterDisposeScope();
    }

    static void CheckPrediction(PredictionType prediction)
    {
        if (prediction is not (PredictionType.Epsilon or PredictionType.VPrediction))
            throw new ArgumentOutOfRangeException(nameof(prediction), prediction, "expected Epsilon or VPrediction");
    }
}
