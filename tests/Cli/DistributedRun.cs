using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Latent.Core.Imaging;
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

/// <summary>
/// What the <c>mpiexec -n 2 latent train ...</c> tests share (tests/Cli/DistributedTrain*Tests.cs): running a command as
/// one process and as ranks, reading the log and checkpoints back, comparing them, and the kill and hang scenarios.
/// </summary>
internal static class DistributedRun
{
    /// <summary>Runs <c>mpiexec -n N latent ARGS</c> (at most two minutes); see <see cref="LatentProcess.RunUnder"/>.</summary>
    public static LatentProcess.Result Ranks(int n, string[] args, Action<Process>? whileRunning = null) =>
        LatentProcess.RunUnder(MpiFactAttribute.Mpiexec ?? "mpiexec.mpich", ["-n", n.ToString(CultureInfo.InvariantCulture)], args, whileRunning);

    /// <summary>
    /// Runs <paramref name="args"/> (a function of the run folder) as one process into one new folder and as two ranks
    /// into another; asserts that both succeed, that rank 0 printed <paramref name="shareLine"/> and that only it printed
    /// the final "done: <paramref name="steps"/> steps" line.
    /// </summary>
    /// <returns>The one-process and the two-rank run folders.</returns>
    public static (string One, string Two) OneProcessAndTwoRanks(Func<string, string[]> args, int steps, string shareLine, ITestOutputHelper output)
    {
        string one = TestEnvironment.NewTempDir(), two = TestEnvironment.NewTempDir();
        var clock = Stopwatch.StartNew();
        var single = LatentProcess.Run(args(one));
        Assert.True(single.ExitCode == 0, single.Stderr);
        double singleSeconds = clock.Elapsed.TotalSeconds;
        var ranks = Ranks(2, args(two));
        Assert.True(ranks.ExitCode == 0, ranks.Stdout + ranks.Stderr);
        output.WriteLine($"one process {singleSeconds:F1} s, two ranks {clock.Elapsed.TotalSeconds - singleSeconds:F1} s");
        Assert.Contains(shareLine, ranks.Stdout);
        Assert.Single(ranks.Stdout.Split('\n'), l => l.StartsWith($"done: {steps} steps", StringComparison.Ordinal));   // rank 0 alone prints
        return (one, two);
    }

    /// <summary>The log's entries that hold a loss, by step; asserts that both runs logged steps 1..<paramref name="steps"/>.</summary>
    public static (Dictionary<long, JsonObject> One, Dictionary<long, JsonObject> Two) Logs(string one, string two, int steps)
    {
        var (a, b) = (Logged(one), Logged(two));
        Assert.Equal(Enumerable.Range(1, steps).Select(i => (long)i), a.Keys.Order());
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        return (a, b);
    }

    /// <summary>The entries of OUT/log.jsonl that hold a loss, by step.</summary>
    public static Dictionary<long, JsonObject> Logged(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, TrainingLog.FileName)).Select(l => JsonNode.Parse(l)!.AsObject()).Where(e => e["loss"] is not null)
            .ToDictionary(e => (long)e["step"]!, e => e);

    /// <summary>
    /// The largest difference of <paramref name="key"/> between two logs over their steps, relative to the first log's
    /// value, or to <paramref name="floor"/> where that is smaller (values near 0); written to the output.
    /// </summary>
    public static double WorstRelative(Dictionary<long, JsonObject> a, Dictionary<long, JsonObject> b, string key, ITestOutputHelper output,
        double floor = 0, Func<long, bool>? steps = null)
    {
        double worst = a.Keys.Where(steps ?? (_ => true)).Max(step =>
        {
            double x = (double)a[step][key]!, y = (double)b[step][key]!;
            return x == y ? 0 : Math.Abs(x - y) / Math.Max(Math.Abs(x), floor);
        });
        if (steps is null) output.WriteLine($"{key}: largest relative difference {worst:E2}");
        return worst;
    }

    /// <summary>
    /// The largest absolute difference between the <c>model.</c> and <c>ema.</c> weights of two checkpoint folders' newest
    /// checkpoints (compared in float64); asserts that both hold the same keys; written to the output.
    /// </summary>
    public static double WorstWeight(string checkpointsA, string checkpointsB, ITestOutputHelper output)
    {
        using var scope = NewDisposeScope();
        var (wa, wb) = (Checkpoint(checkpointsA), Checkpoint(checkpointsB));
        Assert.Equal(wa.Keys.Order(), wb.Keys.Order());
        double worst = wa.Keys.Max(k => (wa[k].to(ScalarType.Float64) - wb[k].to(ScalarType.Float64)).abs().max().item<double>());
        output.WriteLine($"{Path.GetFileName(checkpointsA)}: largest weight difference {worst:E2}");
        return worst;
    }

    static Dictionary<string, Tensor> Checkpoint(string folder) =>
        SafeTensors.Load(new CheckpointDirectory(folder).Latest()!)
            .Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal) || kv.Key.StartsWith("ema.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>A training folder of <paramref name="count"/> random 16x16 PNGs; <paramref name="metadata"/> gives
    /// image i's metadata.jsonl line (its file is "i.png").</summary>
    public static string ImageFolder(int count, Func<int, string> metadata)
    {
        string dir = TestEnvironment.NewTempDir();
        for (int i = 0; i < count; i++)
        {
            using var image = TestTensors.UniformPixels([3, 16, 16], new Generator((ulong)i + 1));
            ImageIO.SavePng(image, Path.Combine(dir, $"{i}.png"));
        }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), Enumerable.Range(0, count).Select(metadata));
        return dir;
    }

    /// <summary>
    /// Kills rank 1 of 2 (SIGKILL) once the run in <paramref name="outDir"/> has logged step 4, checkpointing every 2
    /// steps: asserts that the run ends with mpiexec's banner within 30 s, then that <paramref name="resume"/> (one
    /// process, <c>--resume</c>) continues from step 2 or later to "done: <paramref name="steps"/> steps".
    /// <paramref name="args"/> (the two ranks' arguments) must ask for <paramref name="steps"/> steps, a checkpoint every
    /// 2 and the log every step.
    /// </summary>
    public static void AssertRankKilledEndsTheRunAndResumes(string[] args, string outDir, int steps, string[] resume, ITestOutputHelper output)
    {
        var killedAt = Stopwatch.StartNew();
        var r = Ranks(2, args, launcher =>
        {
            int rank1 = RankPid(outDir, 1);
            WaitForStep(launcher, outDir, 4);
            Signal(rank1, "KILL");
            killedAt.Restart();
        });
        output.WriteLine($"ended {killedAt.Elapsed.TotalSeconds:F1} s after the kill; exit {r.ExitCode}\n{r.Stderr}");
        Assert.NotEqual(0, r.ExitCode);
        Assert.True(killedAt.Elapsed < TimeSpan.FromSeconds(30), $"the run took {killedAt.Elapsed.TotalSeconds:F0} s to end after a rank was killed");
        Assert.Contains("BAD TERMINATION", r.Stdout + r.Stderr);   // mpiexec's banner names the rank's exit
        Assert.DoesNotContain($"done: {steps} steps", r.Stdout);     // the kill landed before the end

        // --resume with another N (1): the checkpoint holds the global state.
        var resumed = LatentProcess.Run(resume);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        // Step 2 or later: the log line of step 4 (which the kill waits for) is written before that step's checkpoint, so
        // on a loaded machine the kill can land before checkpoint 4 exists and the last checkpoint is step 2's.
        var at = System.Text.RegularExpressions.Regex.Match(resumed.Stdout, @"resumed at step (\d+)\b");
        Assert.True(at.Success, resumed.Stdout);
        long step = long.Parse(at.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(step, 2, steps - 1);
        Assert.Contains($"done: {steps} steps", resumed.Stdout);
    }

    /// <summary>
    /// Stops rank 1 of 2 (SIGSTOP) once the run in <paramref name="outDir"/> has logged step 2: asserts that rank 0's
    /// collective watchdog ends the run with its message (<paramref name="args"/> holds <c>--collective-timeout 10</c>).
    /// </summary>
    public static void AssertRankHangsAndTheCollectiveTimeoutEndsTheRun(string[] args, string outDir, ITestOutputHelper output)
    {
        int stopped = 0;
        var r = Ranks(2, args, launcher =>
        {
            stopped = RankPid(outDir, 1);
            WaitForStep(launcher, outDir, 2);
            Signal(stopped, "STOP");
        });
        output.WriteLine($"exit {r.ExitCode}\n{r.Stderr}");
        if (File.Exists($"/proc/{stopped}/cmdline")) Signal(stopped, "KILL");   // mpiexec ends it; make sure
        Assert.NotEqual(0, r.ExitCode);
        Assert.Matches(@"error: rank 0 of 2: .* did not complete within 10 s: another rank died, hangs", r.Stderr);
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
            Thread.Sleep(20);
        }
    }

    static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }
}
