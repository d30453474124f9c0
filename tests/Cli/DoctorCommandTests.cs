namespace Latent.Cli.Tests;

public class DoctorCommandTests
{
    [Fact]
    public void Doctor_PrintsVersionsThreadsNativeFixAndThroughput()
    {
        var r = LatentProcess.Run("doctor");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("0.107.0", r.Stdout);
        Assert.Contains("2.10", r.Stdout);
        Assert.Contains(".NET 10", r.Stdout);
        Assert.Contains("native fix", r.Stdout);
        Assert.Matches(@"conv2d 3x3 \[8,64,32,32\]\s*│\s*fp32\s*│\s*[0-9.]+\s*│\s*[0-9.]+", r.Stdout);
        Assert.Matches(@"matmul \[1024,1024\]x\[1024,1024\]\s*│\s*bf16\s*│\s*[0-9.]+\s*│\s*[0-9.]+", r.Stdout);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void Doctor_ChecksBf16AgainstFp32OpByOp_AndGivesAVerdict()
    {
        var r = LatentProcess.Run("doctor");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("bf16 op vs fp32", r.Stdout);
        Assert.Matches(@"conv2d 3x3 \[2,64,16,16\] -> 64\s*│\s*[0-9.]+%\s*│\s*3%\s*│\s*(ok|OFF)", r.Stdout);
        Assert.Matches(@"attention block .*│\s*5%\s*│", r.Stdout);
        // Which verdict depends on this CPU's kernels; there is always exactly one.
        Assert.True(r.Stdout.Contains("bf16: accurate on this CPU") ^ r.Stdout.Contains("bf16: inaccurate on this CPU"), r.Stdout);
    }

    [Fact]
    public void Doctor_AppliesThreadsBeforeTheFirstOp()
    {
        var r = LatentProcess.Run("doctor", "--quick", "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(@"threads\s*│\s*1\s", r.Stdout);
        Assert.DoesNotContain("GFLOPS", r.Stdout);
    }

    [Fact]
    public void Doctor_RejectsZeroThreadsWithTheValueOnStderr()
    {
        var r = LatentProcess.Run("doctor", "--threads", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--threads must be at least 1; got 0", r.Stderr);
        Assert.Equal("error: --threads must be at least 1; got 0. Run 'latent doctor --help' for usage.", r.Stderr.Trim()); // one line
        Assert.Equal("", r.Stdout); // no help dump
    }

    [Theory]
    [InlineData("10000")]
    [InlineData("2147483647")]
    public void Threads_AboveFourPerCore_IsAParseErrorWithTheLimit(string threads)
    {
        // Parsed only: today's code accepted it, and running with it spawned thousands of threads.
        var parsed = Program.BuildRoot().Parse(["doctor", "--threads", threads]);
        var error = Assert.Single(parsed.Errors);
        Assert.Equal($"--threads must be at most {4 * Environment.ProcessorCount} (4 per core, {Environment.ProcessorCount} cores here); got {threads}.", error.Message);
    }

    [Fact]
    public void Threads_FourPerCore_IsAccepted()
    {
        Assert.Empty(Program.BuildRoot().Parse(["doctor", "--threads", (4 * Environment.ProcessorCount).ToString()]).Errors);
    }

    [Fact]
    public void Doctor_RejectsTooManyThreadsWithExitCode2()
    {
        var r = LatentProcess.Run("doctor", "--threads", "10000");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--threads must be at most", r.Stderr);
    }

    [Fact]
    public void Doctor_RejectsANonNumberForThreads()
    {
        // The option's validator must not read a value that did not convert (that used to abort the process).
        var r = LatentProcess.Run("doctor", "--threads", "many");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Cannot parse argument 'many' for option '--threads'", r.Stderr);
    }
}
