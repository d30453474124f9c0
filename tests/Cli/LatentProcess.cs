using System.Diagnostics;

namespace Latent.Cli.Tests;

/// <summary>Runs the built <c>latent</c> tool as a separate process, as a user would.</summary>
public static class LatentProcess
{
    /// <summary>The result of one run.</summary>
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs <c>latent</c> with <paramref name="args"/> and waits (at most two minutes).</summary>
    public static Result Run(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "latent.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add("--runtimeconfig");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "latent.runtimeconfig.json"));
        start.ArgumentList.Add("--depsfile");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "latent.deps.json"));
        start.ArgumentList.Add(dll);
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["COLUMNS"] = "200";
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"latent {string.Join(' ', args)} did not finish in two minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
