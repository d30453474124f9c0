namespace Latent.Core.Training;

/// <summary>
/// Linear warm-up, then cosine decay to a floor: diffusers' <c>get_cosine_schedule_with_warmup</c> with a minimum
/// ratio added. A pure function of the step, so a resumed run needs nothing but the step.
/// </summary>
/// <remarks>
/// <para>For the update with 0-based index s (diffusers calls <c>lr_scheduler.step()</c> after each update, so its
/// first update runs at s = 0), with warm-up W, total T, cycles c and floor r:</para>
/// <para>s &lt; W: lr = base · s / max(1, W) (so the first update of a warm-up has lr 0, as in diffusers);</para>
/// <para>s ≥ W: progress = (s − W) / max(1, T − W), clamped to [0, 1];
/// lr = base · (r + (1 − r) · max(0, ½ (1 + cos(π · 2c · progress)))).</para>
/// <para>With r = 0 and s ≤ T this is diffusers' value exactly. Past T the progress is clamped, so the rate stays at
/// its end value instead of climbing back up the cosine as diffusers' would.</para>
/// </remarks>
/// <param name="BaseLearningRate">Peak rate, reached at the end of warm-up.</param>
/// <param name="WarmupSteps">W: steps of linear warm-up from 0 (0 for none).</param>
/// <param name="TotalSteps">T: the step at which the cosine reaches its end.</param>
/// <param name="MinRatio">r: the floor as a fraction of the peak (0 as in diffusers; e.g. 0.1 keeps 10%).</param>
/// <param name="NumCycles">c: cosine cycles over the decay; 0.5 (diffusers' default) is one half-wave from peak to floor.</param>
public sealed record CosineWarmupSchedule(
    double BaseLearningRate,
    long WarmupSteps,
    long TotalSteps,
    double MinRatio = 0.0,
    double NumCycles = 0.5)
{
    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it and its value.</exception>
    public void Validate()
    {
        if (!(BaseLearningRate >= 0)) throw new ArgumentOutOfRangeException(nameof(BaseLearningRate), BaseLearningRate, "must be >= 0");
        if (WarmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "must be >= 0");
        if (TotalSteps < WarmupSteps)
            throw new ArgumentOutOfRangeException(nameof(TotalSteps), TotalSteps, $"must be >= WarmupSteps ({WarmupSteps})");
        if (!(MinRatio >= 0 && MinRatio <= 1)) throw new ArgumentOutOfRangeException(nameof(MinRatio), MinRatio, "must be in [0, 1]");
        if (!(NumCycles > 0)) throw new ArgumentOutOfRangeException(nameof(NumCycles), NumCycles, "must be > 0");
    }

    /// <summary>The multiplier of the base rate for the update with 0-based index <paramref name="step"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative or the schedule is invalid.</exception>
    public double Factor(long step)
    {
        Validate();
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "must be >= 0");
        if (step < WarmupSteps) return (double)step / Math.Max(1, WarmupSteps);
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        progress = Math.Min(progress, 1.0);
        double cosine = Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * NumCycles * 2.0 * progress)));
        return MinRatio + (1.0 - MinRatio) * cosine;
    }

    /// <summary>The learning rate for the update with 0-based index <paramref name="step"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative or the schedule is invalid.</exception>
    public double At(long step) => BaseLearningRate * Factor(step);
}
