using Latent.Core.Engine;
using static TorchSharp.torch;

namespace Latent.Pipeline.Schedulers;

/// <summary>Input validation and the x_0 clipping shared by the schedulers.</summary>
internal static class SchedulerChecks
{
    /// <summary>1 &lt;= n &lt;= T, as diffusers' set_timesteps requires.</summary>
    public static void InferenceSteps(int n, int T)
    {
        if (n < 1 || n > T)
            throw new ArgumentOutOfRangeException("numInferenceSteps", n,
                $"numInferenceSteps = {n}; expected 1 .. num_train_timesteps = {T}.");
    }

    /// <summary>A training timestep: an integer in [0, T).</summary>
    public static void TrainingTimestep(long t, int T)
    {
        if (t < 0 || t >= T)
            throw new ArgumentOutOfRangeException("timestep", t, $"timestep {t} is outside [0, {T}).");
    }

    /// <summary>A whole-number timestep in [0, T) (DDPM, DDIM, DPM-Solver index their tables with it).</summary>
    public static long IntegerTimestep(double t, int T)
    {
        if (t != Math.Floor(t) || t < 0 || t >= T)
            throw new ArgumentOutOfRangeException("timestep", t, $"timestep {t} is not an integer in [0, {T}).");
        return (long)t;
    }

    /// <summary>The position of <paramref name="t"/> in <paramref name="timesteps"/>, or -1.</summary>
    public static int IndexOf(IReadOnlyList<double> timesteps, double t)
    {
        for (int i = 0; i < timesteps.Count; i++)
            if (timesteps[i] == t) return i;
        return -1;
    }

    /// <summary>modelOutput and sample have one shape.</summary>
    public static void SameShape(Tensor modelOutput, Tensor sample)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        if (!modelOutput.shape.SequenceEqual(sample.shape))
            throw new ArgumentException(
                $"modelOutput has shape [{string.Join(", ", modelOutput.shape)}], expected the shape of sample [{string.Join(", ", sample.shape)}].",
                nameof(modelOutput));
    }

    /// <summary>
    /// diffusers' step 4 of DDPM/DDIM: dynamic thresholding when <c>thresholding</c>, else clamping to
    /// [-clip_sample_range, clip_sample_range] when <c>clip_sample</c> (default true).
    /// </summary>
    public static Tensor ClipOrThreshold(Tensor x0, SchedulerConfig config)
    {
        if (config.Thresholding == true)
            return DynamicThresholding.Apply(x0, config.DynamicThresholdingRatio ?? 0.995, config.SampleMaxValue ?? 1.0);
        if (config.ClipSample ?? true)
        {
            double range = config.ClipSampleRange ?? 1.0;
            return x0.clamp(Scalars.Of(-range), Scalars.Of(range));
        }
        return x0;
    }
}
