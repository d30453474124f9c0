using Latent.Core.Engine;
using static TorchSharp.torch;

namespace Latent.Schedulers;

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

    /// <summary>
    /// Checks before any work that <paramref name="steps"/> sampling steps give only timesteps in [0, T) under
    /// <paramref name="config"/>: with "leading" spacing and steps_offset 1, 1000 steps of a 1000-step schedule end at
    /// t = 1000, which diffusers' tables do not hold (it fails on the first step; so did we).
    /// </summary>
    /// <param name="config">The sampler's config (the model's, or the one converted for a chosen sampler).</param>
    /// <param name="steps">The requested number of steps.</param>
    /// <param name="source">The scheduler config file, for the message.</param>
    /// <exception cref="ArgumentException">Some timestep falls outside [0, T); the message names the file, T, steps_offset and the most steps that fit.</exception>
    public static void StepsFit(SchedulerConfig config, int steps, string source)
    {
        int T = config.NumTrainTimesteps;
        // The scheduler's own refusals (too few steps for PNDM's warm-up, more than T) keep their messages.
        if (FirstBadTimestep(config, steps) is not { } bad) return;
        int fit = steps - 1;
        while (fit >= 1 && Fits(config, fit) == false) fit--;
        string expected = fit >= 1 ? $"expected at most {fit} steps" : "expected a smaller steps_offset";
        throw new ArgumentException(
            $"{steps} steps do not fit {source}: with num_train_timesteps = {T}, steps_offset = {config.StepsOffset} and " +
            $"{config.TimestepSpacing?.ToString().ToLowerInvariant() ?? "default"} spacing they reach timestep {bad}, outside [0, {T}); {expected}", nameof(steps));
    }

    static bool Fits(SchedulerConfig config, int n)
    {
        try { return FirstBadTimestep(config, n) is null; }
        catch (ArgumentOutOfRangeException) { return false; }
    }

    // The first timestep outside [0, T) that n steps give, or null.
    static double? FirstBadTimestep(SchedulerConfig config, int n)
    {
        INoiseScheduler scheduler = NoiseSchedulers.Create(config);
        try
        {
            scheduler.SetTimesteps(n);
            foreach (double t in scheduler.Timesteps)
                if (!(t >= 0 && t < config.NumTrainTimesteps)) return t;
            return null;
        }
        finally
        {
            (scheduler as IDisposable)?.Dispose();
        }
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
