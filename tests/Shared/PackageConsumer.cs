using System.Diagnostics;
using Xunit.Abstractions;

namespace Latent.Tests;

/// <summary>
/// An app that adds us as packages, as a user's would: our projects packed into a local feed under a version of their own,
/// and a scratch console project outside the repository that references one of them from that feed (the package
/// consumer tests of Core and Pipeline).
/// </summary>
/// <param name="output">Receives each command and its output.</param>
/// <param name="work">An empty folder of the test (<see cref="TestEnvironment.NewTempDir"/>): the feed, the pack's
/// artifacts and the app go there.</param>
public sealed class PackageConsumer(ITestOutputHelper output, string work)
{
    /// <summary>The local feed the packages are packed into.</summary>
    public string Feed { get; } = Path.Combine(work, "feed");

    /// <summary>A version of its own per run, so that no earlier copy in the NuGet cache can stand in for this build.</summary>
    public string Version { get; } = $"0.1.0-test{DateTime.UtcNow:yyyyMMddHHmmssfff}";

    /// <summary>The scratch app's folder (made by <see cref="CreateApp"/>).</summary>
    public string App { get; } = Path.Combine(work, "consumer");

    /// <summary>Packs <paramref name="target"/> (a project or a solution filter) into <see cref="Feed"/> at <see cref="Version"/>.</summary>
    public void Pack(string target, string repoRoot, TimeSpan timeout) =>
        Run("dotnet", $"pack \"{target}\" -c Release -o \"{Feed}\" --artifacts-path \"{Path.Combine(work, "pack-artifacts")}\" " +
                      $"-p:Version={Version} -nologo", repoRoot, timeout);

    /// <summary>Writes the scratch app: a net10.0 linux-x64 console project whose only reference is
    /// <paramref name="package"/> from <see cref="Feed"/>, with <paramref name="program"/> as its Program.cs.</summary>
    public void CreateApp(string package, string program)
    {
        Directory.CreateDirectory(App);
        // Stop MSBuild's search for Directory.Build.* files here: nothing of the repository may help the consumer.
        foreach (string file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
            File.WriteAllText(Path.Combine(App, file), "<Project />");
        File.WriteAllText(Path.Combine(App, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(App, "consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                <SelfContained>false</SelfContained>
                <ImplicitUsings>enable</ImplicitUsings>
                <NoWarn>NU1603;NU1900</NoWarn>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{package}" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(App, "Program.cs"), program);
    }

    /// <summary>Deletes the test's folder (best effort: a file still held is left to the temp folder's clean-up).</summary>
    public void Delete()
    {
        try { Directory.Delete(work, recursive: true); }
        catch (IOException) { }
    }

    /// <summary>Runs a command in <paramref name="directory"/>, fails the test when it exits with an error or outlasts
    /// <paramref name="timeout"/>, and returns its output (stdout, then stderr).</summary>
    public string Run(string file, string arguments, string directory, TimeSpan timeout, params (string Key, string Value)[] environment)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // The outer `dotnet test` sets MSBuild variables that would leak into the child builds.
        foreach (string key in new[] { "MSBuildSDKsPath", "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "DOTNET_HOST_PATH" })
            start.Environment.Remove(key);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish in {timeout.TotalMinutes} minutes");
        }
        string text = stdout.Result + stderr.Result;
        output.WriteLine($"$ {file} {arguments}\n{text}");
        Assert.True(process.ExitCode == 0, $"{file} {arguments} exited with {process.ExitCode}:\n{text}");
        return text;
    }
}
