using System.Globalization;
using Xunit.Abstractions;

namespace Latent.Cli.Tests;

/// <summary><c>mpiexec -n 2 latent train vae</c> against one process: the same training, PatchGAN and adaptive weight
/// included, and failures that end the run.</summary>
public sealed class DistributedTrainVaeTests(ITestOutputHelper output)
{
    const int Steps = 20;

    /// <summary>6 training images of 16x16.</summary>
    static string Folder() => DistributedRun.ImageFolder(6, i => $"{{\"file_name\": \"{i}.png\", \"text\": \"image\"}}");

    // Batch 5 of 6 images: two ranks take 3 and 2 rows (unequal shares); the GAN starts at step 10 (10 of the 20 steps
    // train the discriminator and use the adaptive weight).
    static string[] TrainArgs(string data, string outDir, long steps = Steps, int checkpointEvery = 10, params string[] extra) =>
        ["train", "vae", "--data", data, "--out", outDir, "--preset", "tiny", "--steps", steps.ToString(CultureInfo.InvariantCulture),
            "--batch-size", "5", "--lr", "1e-3", "--warmup", "2", "--disc-start", "10", "--disc-channels", "8", "--disc-layers", "2",
            "--eval-every", "0", "--grid-every", "0", "--checkpoint-every", checkpointEvery.ToString(CultureInfo.InvariantCulture), "--log-every", "1",
            "--export-dtype", "Float32", "--threads", "1", .. extra];

    [MpiFact]
    public void TwoRanks_TrainLikeOneProcessWithTheSameGlobalBatch()
    {
        string data = Folder();
        var (one, two) = DistributedRun.OneProcessAndTwoRanks(outDir => TrainArgs(data, outDir), Steps,
            "data-parallel over 2 processes (MPI): each takes 2 or 3 of the global batch of 5", output);
        var (a, b) = DistributedRun.Logs(one, two, Steps);
        Assert.True(a[Steps]["gan_weight"]!.GetValue<double>() > 0, "the GAN never started; the test would not cover it");
        string[] keys = ["loss", "rec", "kl", "g", "d", "gan_weight", "grad_norm"];
        // Values near 0, such as g, are compared relative to 1e-3.
        double worstLogged = keys.Max(key => DistributedRun.WorstRelative(a, b, key, output, floor: 1e-3));
        double worstFirstGanStep = keys.Max(key => DistributedRun.WorstRelative(a, b, key, output, floor: 1e-3, steps: step => step <= 11));
        double worstWeight = new[] { "checkpoints", Path.Combine("checkpoints", "discriminator") }
            .Max(folder => DistributedRun.WorstWeight(Path.Combine(one, folder), Path.Combine(two, folder), output));
        // The bound of the U-Net's test (docs/training/distributed.md), for the same reason: only the order of float32
        // additions differs (per-row sums joined by the all-reduce; the adaptive weight's two last-layer gradients summed
        // the same way), at most ~1e-3 relative on a gradient whose terms cancel, which AdamW turns into at most
        // lr · 1e-3 per step: 20 · 1e-3 · 1e-3 = 2e-5; the logged numbers have 6 significant digits on top.
        Assert.True(worstFirstGanStep <= 2e-5, $"logged values of steps 1-11 differ by {worstFirstGanStep:E2} (relative); expected at most 2e-5");
        Assert.True(worstLogged <= 1e-3, $"logged values differ by {worstLogged:E2} (relative); expected at most 1e-3");
        Assert.True(worstWeight <= 2e-5, $"weights differ by {worstWeight:E2}; expected at most 2e-5");
        Assert.True(File.Exists(Path.Combine(two, "vae", "config.json")), "rank 0 did not export vae/");
    }

    [MpiFact]
    public void RankKilled_EndsTheRunAndTheLastCheckpointResumesWithOneProcess()
    {
        string data = Folder(), outDir = TestEnvironment.NewTempDir();
        DistributedRun.AssertRankKilledEndsTheRunAndResumes(TrainArgs(data, outDir, KilledRunSteps, checkpointEvery: 2), outDir, KilledRunSteps,
            ["train", "vae", "--data", data, "--out", outDir, "--resume", "--threads", "1"], output);
    }

    [MpiFact]
    public void RankHangs_CollectiveTimeoutEndsTheRunWithAClearError()
    {
        string data = Folder(), outDir = TestEnvironment.NewTempDir();
        DistributedRun.AssertRankHangsAndTheCollectiveTimeoutEndsTheRun(TrainArgs(data, outDir, 100_000, 10, "--collective-timeout", "10"), outDir, output);
    }

    // Long enough that the kill after step 4 lands well before the end of the two-rank run, short enough for the resume.
    const int KilledRunSteps = 60;
}
