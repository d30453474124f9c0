using Xunit.Abstractions;

namespace Latent.Cli.Tests;

/// <summary>Under <c>mpiexec -n N</c> (N &gt; 1) every command but the data-parallel trainers refuses to run, with one line.</summary>
public sealed class NotDataParallelCommandTests(ITestOutputHelper output)
{
    // Hydra's variables alone: no MPI starts, as the check comes before the arguments and the engine.
    static readonly Dictionary<string, string> RankOneOfTwo = new() { ["PMI_RANK"] = "1", ["PMI_SIZE"] = "2" };

    [Theory]
    [InlineData("train judge", "--data d --out o")]
    [InlineData("train tokenizer", "--data d --out o")]
    [InlineData("eval txt2img", "")]
    [InlineData("txt2img", "a cat --out o.png")]
    [InlineData("img2img", "")]
    [InlineData("serve", "")]
    [InlineData("doctor", "")]
    public void UnderMpiexecWithTwoProcesses_IsAUsageErrorOfOneLineNamingTheRank(string command, string args)
    {
        var r = LatentProcess.Run(RankOneOfTwo, [.. command.Split(' '), .. args.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        output.WriteLine(r.Stderr);
        Assert.Equal(CommandRunner.UserError, r.ExitCode);
        Assert.Equal($"error: rank 1 of 2: {command} does not run data-parallel (only train unet, train vae, train text-encoder do); " +
                     "mpiexec started it as 2 processes, which would each run it whole and race on one output. Run it without mpiexec " +
                     "(docs/training/distributed.md)", r.Stderr.TrimEnd('\n'));
        Assert.Equal("", r.Stdout);
    }

    [Theory]
    [InlineData("train", "unet")]
    [InlineData("train", "vae")]
    [InlineData("train", "text-encoder")]
    public void DataParallelTrainer_UnderMpiexec_IsNotRefused(string train, string command)
    {
        // Missing --data and --out: the usage error shows the check let the command through (no MPI starts either).
        var r = LatentProcess.Run(RankOneOfTwo, train, command);
        Assert.Equal(CommandRunner.UserError, r.ExitCode);
        Assert.DoesNotContain("does not run data-parallel", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("--data", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void OneProcessUnderMpiexec_IsNotRefused()
    {
        var r = LatentProcess.Run(new Dictionary<string, string> { ["PMI_RANK"] = "0", ["PMI_SIZE"] = "1" }, "txt2img", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.True(DataParallelSession.Refusal("txt2img") is null);   // this test process: no mpiexec
        var help = LatentProcess.Run(RankOneOfTwo, "txt2img", "--help");   // help is never refused
        Assert.Equal(0, help.ExitCode);
    }
}
