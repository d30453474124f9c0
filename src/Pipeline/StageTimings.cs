using System.Diagnostics;

namespace Latent.Pipeline;

/// <summary>Wall time per stage of loading or generating, in the order the stages ran (for <c>latent txt2img --timings</c>).</summary>
public sealed class StageTimings
{
    readonly List<KeyValuePair<string, double>> stages = [];

    /// <summary>Each stage's name and seconds, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> Stages => stages;

    /// <summary>Adds a stage.</summary>
    /// <param name="stage">What ran, e.g. "denoising (30 steps)".</param>
    /// <param name="seconds">How long it took.</param>
    public void Add(string stage, double seconds) => stages.Add(new(stage, seconds));

    /// <summary>Runs <paramref name="action"/> and adds its wall time as <paramref name="stage"/>.</summary>
    /// <typeparam name="T">What it returns.</typeparam>
    /// <param name="stage">The stage's name, or a function of the result that names it (e.g. with "cache hit").</param>
    /// <param name="action">The work.</param>
    /// <returns>Its result.</returns>
    public T Time<T>(Func<T, string> stage, Func<T> action)
    {
        long start = Stopwatch.GetTimestamp();
        T result = action();
        Add(stage(result), Stopwatch.GetElapsedTime(start).TotalSeconds);
        return result;
    }

    /// <summary>Runs <paramref name="action"/> and adds its wall time as <paramref name="stage"/>.</summary>
    /// <typeparam name="T">What it returns.</typeparam>
    /// <param name="stage">The stage's name.</param>
    /// <param name="action">The work.</param>
    /// <returns>Its result.</returns>
    public T Time<T>(string stage, Func<T> action) => Time(_ => stage, action);
}
