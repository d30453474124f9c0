using System.Diagnostics;

namespace Latent.Core.Training;

/// <summary>A trainer's speed: an exponential moving average of the seconds per step (weight 0.1 on the newest), and the ETA it implies.</summary>
public sealed class StepClock
{
    /// <summary>Smoothed seconds per step; 0 before the first step.</summary>
    public double SecondsPerStep { get; private set; }

    /// <summary>Steps per second; 0 before the first step.</summary>
    public double StepsPerSecond => SecondsPerStep > 0 ? 1.0 / SecondsPerStep : 0;

    /// <summary>Runs and times one step, and returns its result.</summary>
    public T Time<T>(Func<T> step)
    {
        long start = Stopwatch.GetTimestamp();
        T result = step();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        SecondsPerStep = SecondsPerStep == 0 ? seconds : 0.9 * SecondsPerStep + 0.1 * seconds;
        return result;
    }

    /// <summary>The time <paramref name="remainingSteps"/> more steps take at the current speed; null before the first step.</summary>
    public TimeSpan? Eta(long remainingSteps) => SecondsPerStep > 0 ? TimeSpan.FromSeconds(SecondsPerStep * remainingSteps) : null;
}
