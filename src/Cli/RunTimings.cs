using System.Diagnostics;
using System.Globalization;
using Latent.Pipeline;

namespace Latent.Cli;

/// <summary>
/// Where a generation command spends its time from process start to the PNG (<c>--timings</c>): .NET start-up and
/// argument parsing, the engine, each loading stage, each generation stage and the PNG; printed to stderr at the end.
/// </summary>
internal sealed class RunTimings
{
    readonly bool enabled;
    readonly List<KeyValuePair<string, double>> stages = [];
    readonly DateTime processStart;
    long last;

    /// <summary>Starts counting; the first stage is everything between the process's start and this call.</summary>
    public RunTimings(bool enabled)
    {
        this.enabled = enabled;
        processStart = Process.GetCurrentProcess().StartTime.ToUniversalTime();
        last = Stopwatch.GetTimestamp();
        if (enabled) stages.Add(new("process start to the command (.NET start-up, parsing)", (DateTime.UtcNow - processStart).TotalSeconds));
    }

    /// <summary>Closes a stage that ran since the last mark.</summary>
    public void Mark(string stage)
    {
        long now = Stopwatch.GetTimestamp();
        if (enabled) stages.Add(new(stage, Stopwatch.GetElapsedTime(last, now).TotalSeconds));
        last = now;
    }

    /// <summary>Closes a stage whose parts were timed inside (<paramref name="parts"/>), listing each and what the parts do not cover.</summary>
    public void Mark(string stage, StageTimings parts)
    {
        long now = Stopwatch.GetTimestamp();
        double total = Stopwatch.GetElapsedTime(last, now).TotalSeconds;
        last = now;
        if (!enabled) return;
        foreach (var (name, seconds) in parts.Stages) stages.Add(new($"{stage}: {name}", seconds));
        stages.Add(new($"{stage}: the rest", Math.Max(0, total - parts.Stages.Sum(s => s.Value))));
    }

    /// <summary>Prints every stage and the total since the process started (nothing when not enabled).</summary>
    public void Print()
    {
        if (!enabled) return;
        int width = stages.Max(s => s.Key.Length);
        foreach (var (name, seconds) in stages)
            Console.Error.WriteLine($"timing: {name.PadRight(width)} {seconds.ToString("F3", CultureInfo.InvariantCulture),8} s");
        double total = (DateTime.UtcNow - processStart).TotalSeconds;
        Console.Error.WriteLine($"timing: {"total, process start to PNG".PadRight(width)} {total.ToString("F3", CultureInfo.InvariantCulture),8} s");
    }
}
