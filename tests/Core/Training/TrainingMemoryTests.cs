using Xunit.Abstractions;

namespace Latent.Core.Tests.Training;

[Collection(SerialTrainingCollection.Name)]
public class TrainingMemoryTests(ITestOutputHelper output)
{
    /// <summary>Resident set size in bytes (/proc/self/statm on Linux, the working set elsewhere).</summary>
    static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (File.Exists("/proc/self/statm"))
        {
            long pages = long.Parse(File.ReadAllText("/proc/self/statm").Split(' ')[1]);
            return pages * Environment.SystemPageSize;
        }
        return Environment.WorkingSet;
    }

    [Fact]
    public void TwoThousandSteps_ProcessMemoryStaysFlat()
    {
        // 16 channels, 16x16 inputs, batch 8: one step allocates ~0.5 MB of activations, gradients and temporaries,
        // so a leak of a single step's tensors would add ~1 GB over 1,800 steps and a leak of one small tensor per step
        // (a grad handle, a norm scalar) still shows in the live-tensor count. 40 MB leaves room for the allocator's
        // and the runtime's own drift (JIT, GC heap growth) but not for any per-step leak of tensor data.
        const int steps = 2000, warmup = 200;
        const long boundBytes = 40L << 20;
        using var run = new TinyRun(initSeed: 1, channels: 16, size: 16, datasetSize: 64, batchSize: 8, totalSteps: steps);
        long rssWarm = 0, liveWarm = 0;
        float firstLoss = 0, lastLoss = 0;
        var trace = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            float loss = run.Step();
            if (i == 0) firstLoss = loss;
            lastLoss = loss;
            if ((i + 1) % 200 == 0) trace.Add($"{i + 1}: {Rss() / 1048576.0:F1}");
            if (i == warmup - 1)
            {
                rssWarm = Rss();
                liveWarm = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            }
        }
        long rssEnd = Rss();
        long liveEnd = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        output.WriteLine($"{steps} steps in {clock.Elapsed.TotalSeconds:F1} s; loss {firstLoss:F4} -> {lastLoss:F4}");
        output.WriteLine($"RSS after step {warmup}: {rssWarm / 1048576.0:F1} MB; after step {steps}: {rssEnd / 1048576.0:F1} MB; " +
                         $"growth {(rssEnd - rssWarm) / 1048576.0:F1} MB (bound {boundBytes >> 20} MB)");
        output.WriteLine("RSS (MB) by step: " + string.Join(", ", trace));
        output.WriteLine($"live tensors on this thread: {liveWarm} -> {liveEnd}");
        Assert.True(rssEnd - rssWarm < boundBytes, $"RSS grew {(rssEnd - rssWarm) / 1048576.0:F1} MB over {steps - warmup} steps");
        Assert.Equal(liveWarm, liveEnd);
        Assert.True(lastLoss < firstLoss, $"loss did not fall: {firstLoss} -> {lastLoss}");
    }
}
