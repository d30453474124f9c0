using System.Globalization;
using Xunit.Abstractions;

namespace Latent.Cli.Tests;

/// <summary><c>mpiexec -n 2 latent train text-encoder</c> against one process: the same contrastive training (the
/// embeddings of the whole global batch are all-gathered), and failures that end the run.</summary>
public sealed class DistributedTrainTextEncoderTests(ITestOutputHelper output)
{
    const int Steps = 20;

    /// <summary>6 training images (distinct emoji keys, two captions each) of 16x16.</summary>
    static string Folder()
    {
        string[] names = ["cat face", "red apple", "blue car", "green tree", "yellow star", "ice cube"];
        return DistributedRun.ImageFolder(names.Length, i =>
            $"{{\"file_name\": \"{i}.png\", \"text\": [\"{names[i]}\", \"{names[i]}, emoji\"], \"unified\": \"1F{600 + i}\"}}");
    }

    // Batch 5 of 6 images: two ranks take 3 and 2 rows (unequal shares), and the last batch of an epoch wraps.
    static string[] TrainArgs(string data, string outDir, long steps = Steps, int checkpointEvery = 10, params string[] extra) =>
        ["train", "text-encoder", "--data", data, "--out", outDir, "--preset", "tiny", "--vocab-size", "600",
            "--steps", steps.ToString(CultureInfo.InvariantCulture), "--batch-size", "5", "--lr", "1e-3", "--warmup", "2", "--eval-every", "0",
            "--checkpoint-every", checkpointEvery.ToString(CultureInfo.InvariantCulture), "--log-every", "1", "--threads", "1", .. extra];

    [MpiFact]
    public void TwoRanks_TrainLikeOneProcessWithTheSameGlobalBatch()
    {
        string data = Folder();
        var (one, two) = DistributedRun.OneProcessAndTwoRanks(outDir => TrainArgs(data, outDir), Steps,
            "data-parallel over 2 processes (MPI): each takes 2 or 3 of the global batch of 5", output);
        var (a, b) = DistributedRun.Logs(one, two, Steps);
        double worstLoss = new[] { "loss", "logit_scale", "grad_norm" }.Max(key => DistributedRun.WorstRelative(a, b, key, output));
        Assert.All(a.Keys, step => Assert.Equal((double)a[step]["batch_acc"]!, (double)b[step]["batch_acc"]!));
        double worstWeight = DistributedRun.WorstWeight(Path.Combine(one, "checkpoints"), Path.Combine(two, "checkpoints"), output);
        // The bound of the U-Net's test (docs/training/distributed.md), for the same reason: only the order of float32
        // additions differs (a gradient element is one sum of 5 per-example terms in one process, 3 + 2 joined by the
        // all-reduce with two ranks; a share's matmuls also block differently). Relative to a gradient whose terms
        // cancel that is up to ~1e-3, and AdamW turns it into at most lr · 1e-3 per step: 20 · 1e-3 · 1e-3 = 2e-5. The
        // logged numbers have 6 significant digits on top. A real fault (the logit scale's gradient counted twice, a
        // missing gather, a wrong share) shows as 1e-3 or more.
        Assert.True(worstLoss <= 2e-5, $"logged values differ by {worstLoss:E2} (relative); expected at most 2e-5");
        Assert.True(worstWeight <= 2e-5, $"weights differ by {worstWeight:E2}; expected at most 2e-5");
        Assert.True(File.Exists(Path.Combine(two, "text_encoder", "config.json")), "rank 0 did not export text_encoder/");
    }

    [MpiFact]
    public void RankKilled_EndsTheRunAndTheLastCheckpointResumesWithOneProcess()
    {
        string data = Folder(), outDir = TestEnvironment.NewTempDir();
        DistributedRun.AssertRankKilledEndsTheRunAndResumes(TrainArgs(data, outDir, KilledRunSteps, checkpointEvery: 2), outDir, KilledRunSteps,
            ["train", "text-encoder", "--data", data, "--out", outDir, "--resume", "--threads", "1"], output);
    }

    [MpiFact]
    public void RankHangs_CollectiveTimeoutEndsTheRunWithAClearError()
    {
        string data = Folder(), outDir = TestEnvironment.NewTempDir();
        DistributedRun.AssertRankHangsAndTheCollectiveTimeoutEndsTheRun(TrainArgs(data, outDir, 100_000, 10, "--collective-timeout", "10"), outDir, output);
    }

    // Long enough that the kill after step 4 lands well before the end of the two-rank run, short enough for the resume.
    const int KilledRunSteps = 100;
}
