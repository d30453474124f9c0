using System.Diagnostics;
using System.Reflection;
using Latent.Core.Engine;
using Xunit.Abstractions;

namespace Latent.Core.Tests.Engine;

/// <summary>
/// Packs Latent.Core, consumes it from a scratch project outside the repository (so only the package's
/// buildTransitive target can apply the native fix), then builds, runs and publishes that project and runs a tensor op.
/// </summary>
public class PackageConsumerTests(ITestOutputHelper output)
{
    static string RepoRoot => typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepoRoot").Value!;

    [Fact]
    public void PackedLatentCore_CarriesTheNativeFixToAConsumer()
    {
        string work = TestEnvironment.NewTempDir();
        string feed = Path.Combine(work, "feed");
        // A version of its own per run, so that no earlier copy in the NuGet cache can stand in for this build.
        string version = $"0.1.0-test{DateTime.UtcNow:yyyyMMddHHmmssfff}";

        Run("dotnet", $"pack \"{Path.Combine(RepoRoot, "src", "Core", "Latent.Core.csproj")}\" -c Release -o \"{feed}\" " +
                      $"--artifacts-path \"{Path.Combine(work, "pack-artifacts")}\" -p:Version={version} -nologo", RepoRoot);
        string package = Assert.Single(Directory.GetFiles(feed, "*.nupkg"));
        using (var zip = System.IO.Compression.ZipFile.OpenRead(package))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "buildTransitive/Latent.Core.targets");
            Assert.Contains(zip.Entries, e => e.FullName == "buildTransitive/TorchSharpNativeFix.cs");
        }

        string app = Path.Combine(work, "consumer");
        Directory.CreateDirectory(app);
        // Stop MSBuild's search for Directory.Build.* files here: nothing of the repository may help the consumer.
        File.WriteAllText(Path.Combine(app, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(app, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(app, "Directory.Packages.props"), "<Project />");
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
                <PackageReference Include="Latent.Core" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Latent.Core.Engine;
            using static TorchSharp.torch;
            var info = TorchEngine.Initialize(1);
            using var a = ones(2, 3);
            using var b = ones(3, 2);
            using var c = a.matmul(b);
            Console.WriteLine($"sum={c.sum().item<float>()} fix={info.NativeFix.Status}");
            """);

        string expectedFix = HostHasVersion() ? "NotApplied" : "Applied";
        string ran = Run("dotnet", "run -c Release -nologo", app);
        Assert.Contains($"sum=12 fix={expectedFix}", ran);

        string published = Path.Combine(work, "published");
        Run("dotnet", $"publish -c Release -o \"{published}\" -nologo", app);
        string fromPublish = Run(Path.Combine(published, "consumer"), "", app);
        Assert.Contains($"sum=12 fix={expectedFix}", fromPublish);

        try { Directory.Delete(work, recursive: true); }
        catch (IOException) { }
    }

    static bool HostHasVersion()
    {
        string? libstdcxx = ElfVersions.FindSystemLibStdCxx();
        return libstdcxx is not null && ElfVersions.ReadDefined(File.ReadAllBytes(libstdcxx)).Contains(ElfVersions.TorchSharpVersion);
    }

    string Run(string file, string arguments, string directory)
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
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish in 4 minutes");
        }
        string text = stdout.Result + stderr.Result;
        output.WriteLine($"$ {file} {arguments}\n{text}");
        Assert.True(process.ExitCode == 0, $"{file} {arguments} exited with {process.ExitCode}:\n{text}");
        return text;
    }
}
