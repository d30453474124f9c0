using System.Diagnostics;

namespace Latent.Cli.Tests;

/// <summary>Runs the built <c>latent</c> tool as a separate process, as a user would.</summary>
public static class LatentProcess
{
    /// <summary>The result of one run.</summary>
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs <c>latent</c> with <paramref name="args"/> and waits (at most two minutes).</summary>
    public static Result Run(params string[] args) => Run(new Dictionary<string, string>(), args);

    /// <summary>Runs <c>latent</c> with <paramref name="args"/> and these variables added to its environment.</summary>
    public static Result Run(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        ProcessStartInfo start = StartInfo(args);
        foreach ((string name, string value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        return Wait(process, args, process.StandardOutput.ReadToEndAsync());
    }

    /// <summary>
    /// Starts <c>latent</c> with <paramref name="args"/>, reads its stdout until a line satisfies <paramref name="until"/>,
    /// then sends it SIGTERM and waits for it to exit (at most two minutes).
    /// </summary>
    /// <returns>The result; its stdout holds every line, those before the signal included.</returns>
    public static Result RunAndTerminate(Func<string, bool> until, params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        var before = new System.Text.StringBuilder();
        Task<string> rest = Task.Run(() =>
        {
            while (process.StandardOutput.ReadLine() is { } line)
            {
                before.AppendLine(line);
                if (until(line)) break;
            }
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            return before + process.StandardOutput.ReadToEnd();
        });
        return Wait(process, args, rest);
    }

    /// <summary>Runs <c>LAUNCHER LAUNCHERARGS dotnet exec latent.dll ARGS</c> (e.g. <c>mpiexec -n 2</c>) and waits (at most two minutes);
    /// <c>whileRunning</c> is called once the launcher has started, while its output is being read (e.g. to kill a rank).</summary>
    public static Result RunUnder(string launcher, string[] launcherArgs, string[] args, Action<Process>? whileRunning = null)
    {
        ProcessStartInfo start = StartInfo(args);
        start.ArgumentList.Insert(0, start.FileName);
        for (int i = launcherArgs.Length - 1; i >= 0; i--) start.ArgumentList.Insert(0, launcherArgs[i]);
        start.FileName = launcher;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        whileRunning?.Invoke(process);
        return Wait(process, args, stdout);
    }

    static ProcessStartInfo StartInfo(string[] args)
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
        return start;
    }

    static Result Wait(Process process, string[] args, Task<string> stdout)
    {
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"latent {string.Join(' ', args)} did not finish in two minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
