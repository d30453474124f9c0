using System.Diagnostics;
using static TorchSharp.torch;

namespace Latent.Bench.Txt2Img;

/// <summary>The benches' timing: medians of repeated calls, each call in a dispose scope of its own.</summary>
public static class CallTiming
{
    /// <summary>The median wall time of <paramref name="calls"/> calls in milliseconds, after two warm-up calls.</summary>
    public static double MedianMs(Action call, int calls)
    {
        for (int i = 0; i < 2; i++) using (NewDisposeScope()) call();
        var times = new double[calls];
        for (int i = 0; i < calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            using (NewDisposeScope()) call();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return Median(times);
    }

    /// <summary>The median (the mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
