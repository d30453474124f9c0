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
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    static string RepoRoot => typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepoRoot").Value!;

    [Fact]
    public void PackedLatentCore_CarriesTheNativeFixToAConsumer()
    {
        var consumer = new PackageConsumer(output, TestEnvironment.NewTempDir());
        consumer.Pack(Path.Combine(RepoRoot, "src", "Core", "Latent.Core.csproj"), RepoRoot, Timeout);
        string package = Assert.Single(Directory.GetFiles(consumer.Feed, "*.nupkg"));
        using (var zip = System.IO.Compression.ZipFile.OpenRead(package))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "buildTransitive/Latent.Core.targets");
            Assert.Contains(zip.Entries, e => e.FullName == "buildTransitive/TorchSharpNativeFix.cs");
        }

        consumer.CreateApp("Latent.Core", """
            using Latent.Core.Engine;
            using static TorchSharp.torch;
            var info = TorchEngine.Initialize(1);
            using var a = ones(2, 3);
            using var b = ones(3, 2);
            using var c = a.matmul(b);
            Console.WriteLine($"sum={c.sum().item<float>()} fix={info.NativeFix.Status}");
            """);

        string expectedFix = HostHasVersion() ? "NotApplied" : "Applied";
        string ran = consumer.Run("dotnet", "run -c Release -nologo", consumer.App, Timeout);
        Assert.Contains($"sum=12 fix={expectedFix}", ran);

        string published = Path.Combine(Path.GetDirectoryName(consumer.App)!, "published");
        consumer.Run("dotnet", $"publish -c Release -o \"{published}\" -nologo", consumer.App, Timeout);
        string fromPublish = consumer.Run(Path.Combine(published, "consumer"), "", consumer.App, Timeout);
        Assert.Contains($"sum=12 fix={expectedFix}", fromPublish);
        consumer.Delete();
    }

    static bool HostHasVersion()
    {
        string? libstdcxx = ElfVersions.FindSystemLibStdCxx();
        return libstdcxx is not null && ElfVersions.ReadDefined(File.ReadAllBytes(libstdcxx)).Contains(ElfVersions.TorchSharpVersion);
    }
}
