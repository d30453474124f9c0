using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Core.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary><c>mpiexec -n 2 latent train text-encoder</c> against one process: the same contrastive training (the
/// embeddings of the whole global batch are all-gathered).</summary>
public sealed class DistributedTrainTextEncoderTests(ITestOutputHelper output)
{
    const int Steps = 20;

    /// <summary>6 training images (distinct emoji keys, two captions each) of 16x16.</summary>
    static string Folder()
    {
        string dir = TestEnvironment.NewTempDir();
        string[] names = ["cat face", "red apple", "blue car", "green tree", "yellow star", "ice cube"];
        var lines = new List<string>();
        for (int i = 0; i < names.Length; i++)
        {
            using var image = TestTensors.UniformPixels([3, 16, 16], new Generator((ulong)i + 1));
            ImageIO.SavePng(image, Path.Combine(dir, $"{i}.png"));
            lines.Add($"{{\"file_name\": \"{i}.png\", \"text\": [\"{names[i]}\", \"{names[i]}, emoji\"], \"unified\": \"1F{600 + i}\"}}");
        }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return dir;
    }

    // Batch 5 of 6 images: two ranks take 3 and 2 rows (unequal shares), and the last batch of an epoch wraps.
    static string[] TrainArgs(string data, string outDir) =>
        ["train", "text-encoder", "--data", data, "--out", outDir, "--preset", "tiny", "--vocab-size", "600",
            "--steps", Steps.ToString(CultureInfo.InvariantCulture), "--batch-size", "5", "--lr", "1e-3", "--warmup", "2", "--eval-every", "0",
            "--checkpoint-every", "10", "--log-every", "1", "--threads", "1"];

    static Dictionary<long, JsonObject> Logged(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, TrainingLog.FileName)).Select(l => JsonNode.Parse(l)!.AsObject()).Where(e => e["loss"] is not null)
            .ToDictionary(e => (long)e["step"]!, e => e);

    static Dictionary<string, Tensor> Checkpoint(string outDir) =>
        SafeTensors.Load(new CheckpointDirectory(Path.Combine(outDir, "checkpoints")).Latest()!)
            .Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal) || kv.Key.StartsWith("ema.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);

    [MpiFact]
    public void TwoRanks_TrainLikeOneProcessWithTheSameGlobalBatch()
    {
        string data = Folder(), one = TestEnvironment.NewTempDir(), two = TestEnvironment.NewTempDir();
        var clock = Stopwatch.StartNew();
        var single = LatentProcess.Run(TrainArgs(data, one));
        Assert.True(single.ExitCode == 0, single.Stderr);
        double singleSeconds = clock.Elapsed.TotalSeconds;
        var ranks = LatentProcess.RunUnder(MpiFactAttribute.Mpiexec ?? "mpiexec.mpich", ["-n", "2"], TrainArgs(data, two));
        Assert.True(ranks.ExitCode == 0, ranks.Stdout + ranks.Stderr);
        output.WriteLine($"one process {singleSeconds:F1} s, two ranks {clock.Elapsed.TotalSeconds - singleSeconds:F1} s");
        Assert.Contains("data-parallel over 2 processes (MPI): each takes 2 or 3 of the global batch of 5", ranks.Stdout);
        Assert.Single(ranks.Stdout.Split('\n'), l => l.StartsWith("done: 20 steps", StringComparison.Ordinal));   // rank 0 alone prints

        var (a, b) = (Logged(one), Logged(two));
        Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), a.Keys.Order());
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double worstLoss = 0;
        foreach (string key in new[] { "loss", "logit_scale", "grad_norm" })
        {
            double worst = a.Keys.Max(step => Math.Abs((double)a[step][key]! - (double)b[step][key]!) / Math.Abs((double)a[step][key]!));
            output.WriteLine($"{key}: largest relative difference {worst:E2}");
            worstLoss = Math.Max(worstLoss, worst);
        }
        Assert.All(a.Keys, step => Assert.Equal((double)a[step]["batch_acc"]!, (double)b[step]["batch_acc"]!));
        var (wa, wb) = (Checkpoint(one), Checkpoint(two));
        Assert.Equal(wa.Keys.Order(), wb.Keys.Order());
        double worstWeight = wa.Keys.Max(k => (wa[k] - wb[k]).abs().max().item<float>());
        output.WriteLine($"largest relative difference of loss, logit scale and gradient norm {worstLoss:E2}, largest weight difference {worstWeight:E2}");
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
}
