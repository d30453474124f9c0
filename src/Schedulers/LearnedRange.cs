using Latent.Core.Engine;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// The learned reverse-process variance of improved DDPM (Nichol &amp; Dhariwal 2021, eq. 15), diffusers'
/// <c>variance_type: "learned_range"</c>: the network's second C channels v in [-1, 1] interpolate the log-variance
/// between the posterior variance beta~_t (v = -1) and beta_t (v = 1):
/// log Sigma_theta = frac log beta_t + (1 - frac) log beta~_t, frac = (v + 1) / 2.
/// </summary>
/// <remarks>
/// Shared by the trainer (<c>Latent.Training.UNet.VariationalBound</c>), DDPM (<see cref="DdpmScheduler"/>, which carries its
/// own copy of this line from before this file) and DDIM with eta &gt; 0 (<see cref="DdimScheduler"/>). v is not
/// clamped, as in improved-diffusion and diffusers: a trained network stays inside the range, an untrained one may not.
/// </remarks>
public static class LearnedRange
{
    /// <summary>Whether <paramref name="modelOutput"/> carries a variance half: [B, 2C, ...] for a sample of [B, C, ...].</summary>
    /// <param name="modelOutput">The network's output.</param>
    /// <param name="sample">x_t.</param>
    public static bool HasVariance(Tensor modelOutput, Tensor sample)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        return modelOutput.dim() == sample.dim() && modelOutput.dim() > 1 && modelOutput.shape[1] == 2 * sample.shape[1];
    }

    /// <summary>Splits [B, 2C, ...] into the mean prediction (eps, v or x_0) and v, each [B, C, ...] (views).</summary>
    /// <param name="modelOutput">[B, 2C, ...].</param>
    /// <exception cref="ArgumentException">The channel count is odd.</exception>
    public static (Tensor Prediction, Tensor Variance) Split(Tensor modelOutput)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        long c2 = modelOutput.shape[1];
        if (c2 % 2 != 0)
            throw new ArgumentException($"the model output has {c2} channels; expected an even 2C (mean, variance)", nameof(modelOutput));
        Tensor[] halves = modelOutput.split(c2 / 2, 1);   // [B, 2C, ...] -> 2 x [B, C, ...]
        return (halves[0], halves[1]);
    }

    /// <summary>log Sigma_theta = frac log beta_t + (1 - frac) log beta~_t with frac = (v + 1) / 2.</summary>
    /// <param name="v">The variance output, [B, C, ...].</param>
    /// <param name="minLog">log beta~_t, broadcastable to <paramref name="v"/> (e.g. [B, 1, 1, 1]).</param>
    /// <param name="maxLog">log beta_t, broadcastable likewise.</param>
    /// <returns>log Sigma_theta, the shape of <paramref name="v"/>; the caller owns it.</returns>
    public static Tensor LogVariance(Tensor v, Tensor minLog, Tensor maxLog)
    {
        ArgumentNullException.ThrowIfNull(v);
        using var scope = NewDisposeScope();
        Tensor frac = v.add(Scalars.Of(1), Scalars.One).mul(Scalars.Of(0.5));          // (v + 1) / 2
        Tensor logVariance = (frac * maxLog).add(frac.neg().add(Scalars.One, Scalars.One) * minLog, Scalars.One);
        return logVariance.MoveToOuterDisposeScope();
    }

    /// <summary>Sigma_theta^(1/2) for one jump t -> t' whose posterior variance and beta are scalars (the samplers).</summary>
    /// <param name="v">The variance output, [B, C, ...].</param>
    /// <param name="posteriorVariance">beta~ of the jump (&gt; 0).</param>
    /// <param name="beta">beta of the jump, 1 - alpha_bar_t / alpha_bar_t' (&gt; 0).</param>
    /// <returns>The standard deviation, the shape of <paramref name="v"/>; the caller owns it.</returns>
    public static Tensor Std(Tensor v, double posteriorVariance, double beta)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (!(posteriorVariance > 0) || !(beta > 0))
            throw new ArgumentOutOfRangeException(nameof(posteriorVariance), $"beta~ = {posteriorVariance}, beta = {beta}; expected both > 0");
        using var scope = NewDisposeScope();
        Tensor minLog = tensor(Math.Log(posteriorVariance), dtype: v.dtype, device: v.device);
        Tensor maxLog = tensor(Math.Log(beta), dtype: v.dtype, device: v.device);
        return LogVariance(v, minLog, maxLog).mul(Scalars.Of(0.5)).exp().MoveToOuterDisposeScope();
    }
}
