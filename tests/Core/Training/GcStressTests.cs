using System.Diagnostics;

namespace Latent.Core.Tests.Training;

/// <summary>
/// Training is exact under garbage-collection stress: tests/GcStress trains <see cref="TinyRun"/> twice in a child
/// process with a 64 KB first generation (<c>DOTNET_GCgen0size=0x10000</c>) and a thread that allocates without pause,
/// and compares losses, weights, optimizer state and EMA bit for bit. Before every Scalar was held (Engine.Scalars),
/// such runs crashed in <c>linalg.vector_norm</c> or differed (docs/training/determinism.md has the counts).
/// </summary>
public class GcStressTests
{
    [Fact]
    public void TinyRun_TwiceUnderGcStress_IsBitIdentical()
    {
        var (exitCode, output) = RunChild("--steps", "150");
        Assert.True(exitCode == 0, $"the two runs under GC stress differ or failed (exit {exitCode}):\n{output}");
        Assert.Contains("identical", output);
    }

    /// <summary>Runs tests/GcStress with GC stress; returns its exit code and its stdout and stderr together.</summary>
    internal static (int ExitCode, string Output) RunChild(params string[] args)
    {
        string dir = AppContext.BaseDirectory;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["exec", "--runtimeconfig", Path.Combine(dir, "Latent.GcStress.runtimeconfig.json"),
                     "--depsfile", Path.Combine(dir, "Latent.GcStress.deps.json"), Path.Combine(dir, "Latent.GcStress.dll"), .. args])
            start.ArgumentList.Add(a);
        start.Environment["DOTNET_GCgen0size"] = "0x10000";
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("tests/GcStress did not finish in three minutes");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
