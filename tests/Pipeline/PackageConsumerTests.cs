using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using Xunit.Abstractions;

namespace Latent.Pipeline.Tests;

/// <summary>
/// An app adds us as a package: every library project packs into a local feed (one version, the README inside, the
/// native fix in Latent.Core's buildTransitive), and a console app outside the repository that references only
/// Latent.Pipeline generates an image from tests/fixtures/parity with the README's example.
/// </summary>
public class PackageConsumerTests(ITestOutputHelper output)
{
    // Every library of src/ (the CLI is an app, the analyzer runs inside our compiler only).
    static readonly string[] Libraries = ["Core", "Schedulers", "Vae", "TextEncoder", "UNetCrossAttn", "Judge", "Pipeline", "Training", "Server", "Distributed"];

    static string RepoRoot => typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepoRoot").Value!;

    [Fact]
    public void PackedLibraries_LetAnAppReferencingOnlyThePipelineGenerateAnImage()
    {
        string work = TestEnvironment.NewTempDir();
        string feed = Path.Combine(work, "feed");
        string version = $"0.1.0-test{DateTime.UtcNow:yyyyMMddHHmmssfff}";

        // 1. Pack the libraries in one build (a solution filter of Latent.sln).
        string filter = Path.Combine(work, "libraries.slnf");
        File.WriteAllText(filter, JsonSerializer.Serialize(new
        {
            solution = new { path = Path.Combine(RepoRoot, "Latent.sln"), projects = Libraries.Select(l => $"src\\{l}\\Latent.{l}.csproj").ToArray() },
        }));
        Run("dotnet", $"pack \"{filter}\" -c Release -o \"{feed}\" --artifacts-path \"{Path.Combine(work, "pack-artifacts")}\" -p:Version={version} -nologo", RepoRoot);
        foreach (string library in Libraries)
        {
            string package = Path.Combine(feed, $"Latent.{library}.{version}.nupkg");
            Assert.True(File.Exists(package), $"Latent.{library} was not packed");
            using var zip = ZipFile.OpenRead(package);
            Assert.Contains(zip.Entries, e => e.FullName == "README.md");
        }
        using (var core = ZipFile.OpenRead(Path.Combine(feed, $"Latent.Core.{version}.nupkg")))
            Assert.Contains(core.Entries, e => e.FullName == "buildTransitive/Latent.Core.targets");

        // 2. A scratch app outside the repository: only Latent.Pipeline, and the README's example.
        string app = Path.Combine(work, "consumer");
        Directory.CreateDirectory(app);
        foreach (string file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
            File.WriteAllText(Path.Combine(app, file), "<Project />");
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "consumer.csproj"), $"""
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
                <PackageReference Include="Latent.Pipeline" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Latent.Core.Imaging;
            using Latent.Pipeline;
            string dir = args[0];
            using var pipe = StableDiffusionPipeline.Load(dir, new PipelineOptions { Runtime = UNetRuntime.Auto });
            using var result = pipe.Generate(new GenerationRequest { Prompts = ["a cat"], GuidanceScale = 7.5, Steps = 30, Seed = 1 });
            ImageIO.SavePng(result.Images[0], "cat.png");
            Console.WriteLine($"image [{string.Join(", ", result.Images.shape)}]");
            """);
        string parity = Path.Combine(RepoRoot, "tests", "fixtures", "parity");
        string ran = Run("dotnet", $"run -c Release -- \"{parity}\"", app, ("LATENT_CACHE_DIR", Path.Combine(work, "cache")));
        Assert.Contains("image [1, 3, ", ran);
        Assert.True(new FileInfo(Path.Combine(app, "cat.png")).Length > 0);

        try { Directory.Delete(work, recursive: true); }
        catch (IOException) { }
    }

    string Run(string file, string arguments, string directory, params (string Key, string Value)[] environment)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string key in new[] { "MSBuildSDKsPath", "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "DOTNET_HOST_PATH" })
            start.Environment.Remove(key);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish in 8 minutes");
        }
        string text = stdout.Result + stderr.Result;
        output.WriteLine($"$ {file} {arguments}\n{text}");
        Assert.True(process.ExitCode == 0, $"{file} {arguments} exited with {process.ExitCode}:\n{text}");
        return text;
    }
}
