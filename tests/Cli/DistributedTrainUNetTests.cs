using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Latent.Core.IO;
using Latent.Core.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>
/// A test that needs MPICH's <c>mpiexec</c>: skipped, with the reason shown, where it is missing on a developer's
/// machine; never skipped under CI (CI=true), whose setup installs MPICH (scripts/setup.sh), so there it fails instead.
/// </summary>
public sealed class MpiFactAttribute : FactAttribute
{
    /// <summary>MPICH's launcher on PATH (mpiexec.mpich, else mpiexec.hydra), or null.</summary>
    public static readonly string? Mpiexec = Find("mpiexec.mpich") ?? Find("mpiexec.hydra");

    /// <summary>Skips the test where <see cref="Mpiexec"/> is null, outside CI.</summary>
    public MpiFactAttribute()
    {
        if (Mpiexec is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "MPICH's mpiexec (mpiexec.mpich) is not on PATH; install it with scripts/setup.sh or apt-get install mpich";
    }

    static string? Find(string name) => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}

/// <summary><c>mpiexec -n 2 latent train unet</c> against one process: the same training, and failures that end the run.</summary>
public sealed class DistributedTrainUNetTests(ITestOutputHelper output)
{
    const int Steps = 20;

    static string[] TrainArgs(string outDir, long steps = Steps, int checkpointEvery = 10, params string[] extra)
    {
        var w = TrainUNetCommandTests.World();
        return ["train", "unet", "--data", w.Data, "--out", outDir, "--vae", w.Vae, "--text-encoder", w.TextEncoder, "--tokenizer", w.Tokenizer,
            "--preset", "tiny", "--steps", steps.ToString(CultureInfo.InvariantCulture), "--batch-size", "4", "--lr", "1e-3", "--warmup", "2",
            "--caption-dropout", "0.25", "--noise-offset", "0.05", "--min-snr-gamma", "5", "--log-every", "1", "--checkpoint-every", checkpointEvery.ToString(CultureInfo.InvariantCulture),
            "--sample-every", "0", "--prompt", "red", "--export-dtype", "Float32", "--threads", "1", .. extra];
    }

    static LatentProcess.Result RunRanks(int n, string[] args, Action<Process>? whileRunning = null) =>
        LatentProcess.RunUnder(MpiFactAttribute.Mpiexec ?? "mpiexec.mpich", ["-n", n.ToString(CultureInfo.InvariantCulture)], args, whileRunning);

    static Dictionary<long, double> Losses(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, TrainingLog.FileName)).Select(l => JsonNode.Parse(l)!.AsObject()).Where(e => e["loss"] is not null)
            .ToDictionary(e => (long)e["step"]!, e => (double)e["loss"]!);

    static Dictionary<string, Tensor> Checkpoint(string outDir) =>
        SafeTensors.Load(new CheckpointDirectory(Path.Combine(outDir, "checkpoints")).Latest()!)
            .Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal) || kv.Key.StartsWith("ema.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);

    [MpiFact]
    public void TwoRanks_TrainLikeOneProcessWithTheSameGlobalBatch()
    {
        string one = TestEnvironment.NewTempDir(), two = TestEnvironment.NewTempDir();
        var clock = Stopwatch.StartNew();
        var single = LatentProcess.Run(TrainArgs(one));
        Assert.True(single.ExitCode == 0, single.Stderr);
        double singleSeconds = clock.Elapsed.TotalSeconds;
        var ranks = RunRanks(2, TrainArgs(two));
        Assert.True(ranks.ExitCode == 0, ranks.Stdout + ranks.Stderr);
        output.WriteLine($"one process {singleSeconds:F1} s, two ranks {clock.Elapsed.TotalSeconds - singleSeconds:F1} s");
        Assert.Contains("data-parallel over 2 processes (MPI): each takes 2 of the global batch of 4", ranks.Stdout);
        Assert.Single(ranks.Stdout.Split('\n'), l => l.StartsWith("done: 20 steps", StringComparison.Ordinal));   // rank 0 alone prints

        var (a, b) = (Losses(one), Losses(two));
        Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), a.Keys.Order());
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        double worstLoss = a.Keys.Max(k => Math.Abs(a[k] - b[k]) / Math.Abs(a[k]));
        var (wa, wb) = (Checkpoint(one), Checkpoint(two));
        Assert.Equal(wa.Keys.Order(), wb.Keys.Order());
        double worstWeight = wa.Keys.Max(k => (wa[k] - wb[k]).abs().max().item<float>());
        output.WriteLine($"largest relative loss difference {worstLoss:E2}, largest weight difference {worstWeight:E2}");
        // The bound (docs/training/distributed.md): only the order of float32 additions differs. A gradient element is a
        // sum of B = 4 per-example terms, added 4 at once by one process and 2 + 2 then all-reduced by two; each order is
        // within ~3u·Σ|g_i| of the exact sum (u = 2^-24 ≈ 6e-8), which relative to a gradient whose terms cancel can reach
        // ~1e-3. AdamW divides by √v, so a step of lr = 1e-3 moves by at most ~lr times that relative error: 20 steps,
        // ≤ 20 · 1e-3 · 1e-3 = 2e-5 per weight. The logged losses have 6 significant digits (5e-6 relative rounding) on
        // top of the same effect: 2e-5 relative. Measured here: ~1e-6 on both (a real error, a wrong share or a missing
        // all-reduce, is 1e-2 or more: the batches differ).
        Assert.True(worstLoss <= 2e-5, $"losses differ by {worstLoss:E2} (relative); expected at most 2e-5");
        Assert.True(worstWeight <= 2e-5, $"weights differ by {worstWeight:E2}; expected at most 2e-5");
    }

    // The process of rank `rank` of the run writing to `outDir` (its command line names the folder; Hydra sets PMI_RANK).
    static int RankPid(string outDir, int rank)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            foreach (string dir in Directory.GetDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
                try
                {
                    string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                    string environ = File.ReadAllText(Path.Combine(dir, "environ"));
                    if (cmdline.Contains("latent.dll", StringComparison.Ordinal) && cmdline.Contains(outDir, StringComparison.Ordinal) &&
                        environ.Split('\0').Contains($"PMI_RANK={rank}"))
                        return pid;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"rank {rank} of the run in {outDir} was not found");
    }

    // Waits until the run has logged `step` (at most a minute, and not after the launcher has exited).
    static void WaitForStep(Process launcher, string outDir, long step)
    {
        var clock = Stopwatch.StartNew();
        string log = Path.Combine(outDir, TrainingLog.FileName);
        while (!(File.Exists(log) && File.ReadAllLines(log).Any(l => l.Contains($"\"step\":{step},", StringComparison.Ordinal))))
        {
            if (launcher.HasExited) throw new InvalidOperationException($"the run in {outDir} ended (exit {launcher.ExitCode}) before step {step}");
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"the run in {outDir} did not reach step {step}");
            Thread.Sleep(50);
        }
    }

    static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    [MpiFact]
    public void RankKilled_EndsTheRunAndTheLastCheckpointResumesWithOneProcess()
    {
        string outDir = TestEnvironment.NewTempDir();
        string[] args = TrainArgs(outDir, steps: 60, checkpointEvery: 2);
        var killedAt = Stopwatch.StartNew();
        var r = RunRanks(2, args, launcher =>
        {
            WaitForStep(launcher, outDir, 4);
            Signal(RankPid(outDir, 1), "KILL");
            killedAt.Restart();
        });
        output.WriteLine($"ended {killedAt.Elapsed.TotalSeconds:F1} s after the kill; exit {r.ExitCode}\n{r.Stderr}");
        Assert.NotEqual(0, r.ExitCode);
        Assert.True(killedAt.Elapsed < TimeSpan.FromSeconds(30), $"the run took {killedAt.Elapsed.TotalSeconds:F0} s to end after a rank was killed");
        Assert.Contains("BAD TERMINATION", r.Stdout + r.Stderr);   // mpiexec's banner names the rank's exit

        // --resume with another N (1): the checkpoint holds the global state.
        var resumed = LatentProcess.Run(["train", "unet", "--data", args[3], "--out", outDir, "--vae", args[7], "--text-encoder", args[9],
            "--tokenizer", args[11], "--resume", "--threads", "1"]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        // Step 2 or later: the log line of step 4 (which the kill waits for) is written before that step's checkpoint, so
        // on a loaded machine the kill can land before checkpoint-000004 exists and the last checkpoint is step 2's.
        Assert.Matches(@"resumed at step ([2-9]|[1-5][0-9])\b", resumed.Stdout);
        Assert.Contains("done: 60 steps", resumed.Stdout);
    }

    [MpiFact]
    public void RankHangs_CollectiveTimeoutEndsTheRunWithAClearError()
    {
        string outDir = TestEnvironment.NewTempDir();
        int stopped = 0;
        var r = RunRanks(2, TrainArgs(outDir, 400, 10, "--collective-timeout", "10"), launcher =>
        {
            WaitForStep(launcher, outDir, 2);
            stopped = RankPid(outDir, 1);
            Signal(stopped, "STOP");
        });
        output.WriteLine($"exit {r.ExitCode}\n{r.Stderr}");
        if (File.Exists($"/proc/{stopped}/cmdline")) Signal(stopped, "KILL");   // mpiexec ends it; make sure
        Assert.NotEqual(0, r.ExitCode);
        Assert.Matches(@"error: rank 0 of 2: .* did not complete within 10 s: another rank died, hangs", r.Stderr);
    }
}

/// <summary>The commands that do not train data-parallel refuse to run as several processes.</summary>
public sealed class NotDataParallelCommandTests
{
    [Theory]
    [InlineData("judge")]
    [InlineData("tokenizer")]
    public void Train_UnderMpiexecWithTwoProcesses_IsAUsageErrorNamingTheRank(string command)
    {
        // Hydra's variables alone (no MPI starts: the check comes first).
        var r = LatentProcess.Run(new Dictionary<string, string> { ["PMI_RANK"] = "1", ["PMI_SIZE"] = "2" },
            "train", command, "--data", "d", "--out", "o");
        Assert.Equal(CommandRunner.UserError, r.ExitCode);
        Assert.StartsWith($"error: rank 1 of 2: train {command} does not train data-parallel yet", r.Stderr);
    }
}
