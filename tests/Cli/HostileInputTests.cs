namespace Latent.Cli.Tests;

/// <summary>Requests and files that used to reach the allocator or a second line of output (issue 21 items 2, 7, 8):
/// each now ends in exit code 2 with one line that names the problem, and nothing written.</summary>
[Collection(InProcessCli.Collection)]
public class HostileInputTests
{
    static void AssertRefused(InProcessCli.Result r, string outDir, params string[] mentions)
    {
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Err}");
        string line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        foreach (string m in mentions) Assert.Contains(m, line);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), $"{outDir} holds files");
    }

    [Fact]
    public void HugeSize_IsRefusedByTheEstimate()
    {
        string outDir = Path.Combine(TestEnvironment.NewTempDir(), "out");
        var r = InProcessCli.Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--size", "65536x65536", "--steps", "1", "--out", outDir);
        AssertRefused(r, outDir, "65536x65536", "is available");
    }

    [Fact]
    public void StepsTheSchedulerCannotTake_AreRefused_NamingItsConfig()
    {
        string outDir = Path.Combine(TestEnvironment.NewTempDir(), "out");
        var r = InProcessCli.Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--steps", "1000", "--out", outDir);
        AssertRefused(r, outDir, "scheduler_config.json", "at most 999 steps");
    }

    [Fact]
    public void ImgToImg_OfADevice_IsRefusedAtOnce()
    {
        string outDir = Path.Combine(TestEnvironment.NewTempDir(), "out");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var r = InProcessCli.Run("img2img", "/dev/zero", "a cat", "--model", TestEnvironment.Parity, "--out", outDir);
        AssertRefused(r, outDir, "/dev/zero");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public void ImgToImg_OfAPngDeclaringHugeSize_IsRefused_NamingIt()
    {
        string dir = TestEnvironment.NewTempDir(), outDir = Path.Combine(dir, "out"), png = Path.Combine(dir, "huge.png");
        File.WriteAllBytes(png, FuzzInputs.DeclaringPng(65535, 65535));
        var r = InProcessCli.Run("img2img", png, "a cat", "--model", TestEnvironment.Parity, "--out", outDir);
        AssertRefused(r, outDir, png, "65535x65535");
    }
}
