namespace Latent.Cli.Tests;

public class ProgramTests
{
    [Fact]
    public void Help_ListsTheCommands()
    {
        var r = LatentProcess.Run("--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("doctor", r.Stdout);
        Assert.Contains("--threads", r.Stdout);
    }

    [Fact]
    public void UnknownCommand_FailsWithAMessageOnStderr()
    {
        var r = LatentProcess.Run("paint-me-a-cat");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("paint-me-a-cat", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr); // no stack trace
    }
}
