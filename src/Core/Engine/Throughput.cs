using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Engine;

/// <summary>A measured rate of one op: what ran, in which dtype, and how fast.</summary>
/// <param name="Op">What ran, with its shapes.</param>
/// <param name="Dtype">The element type.</param>
/// <param name="Gflops">Billions of floating-point operations per second (multiply and add count as two).</param>
/// <param name="MedianMs">The median time of one call, in milliseconds.</param>
public sealed record ThroughputResult(string Op, ScalarType Dtype, double Gflops, double MedianMs);

/// <summary>Quick throughput probes of the engine for <c>latent doctor</c>: conv2d and matmul, fp32 and bf16.</summary>
/// <remarks>
/// Each probe warms up, then takes the median of several timed calls. The shapes are those of our models' hot ops
/// (a 3x3 conv at 64 channels on a 32x32 map, a 1024-square matmul); figures for other shapes live in bench/.
/// </remarks>
public static class Throughput
{
    /// <summary>conv2d, 3x3, stride 1, padding 1: [8, 64, 32, 32] * [64, 64, 3, 3].</summary>
    public static ThroughputResult Conv2d(ScalarType dtype, int repeats = 10)
    {
        TorchEngine.EnsureInitialized();
        const long b = 8, c = 64, h = 32, w = 32, k = 3;
        using var scope = NewDisposeScope();
        var gen = new Generator(0);
        var x = randn(new[] { b, c, h, w }, generator: gen).to(dtype);
        var weight = randn(new[] { c, c, k, k }, generator: gen).to(dtype);
        double flops = 2.0 * b * c * h * w * c * k * k;
        double ms = MedianMs(() => nn.functional.conv2d(x, weight, padding: new long[] { 1, 1 }).Dispose(), repeats);
        return new ThroughputResult($"conv2d 3x3 [{b},{c},{h},{w}]", dtype, flops / (ms * 1e6), ms);
    }

    /// <summary>matmul of two [n, n] matrices (n = 1024 by default).</summary>
    public static ThroughputResult Matmul(ScalarType dtype, long n = 1024, int repeats = 10)
    {
        TorchEngine.EnsureInitialized();
        using var scope = NewDisposeScope();
        var gen = new Generator(0);
        var a = randn(new[] { n, n }, generator: gen).to(dtype);
        var b = randn(new[] { n, n }, generator: gen).to(dtype);
        double flops = 2.0 * n * n * n;
        double ms = MedianMs(() => a.matmul(b).Dispose(), repeats);
        return new ThroughputResult($"matmul [{n},{n}]x[{n},{n}]", dtype, flops / (ms * 1e6), ms);
    }

    /// <summary>Median wall time of <paramref name="action"/> in milliseconds, after three warm-up calls.</summary>
    public static double MedianMs(Action action, int repeats)
    {
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), repeats, "repeats must be at least 1");
        for (int i = 0; i < 3; i++) action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return repeats % 2 == 1 ? times[repeats / 2] : (times[repeats / 2 - 1] + times[repeats / 2]) / 2;
    }
}
