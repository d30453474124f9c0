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

    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(8);

    static string RepoRoot => typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepoRoot").Value!;

    [Fact]
    public void PackedLibraries_LetAnAppReferencingOnlyThePipelineGenerateAnImage()
    {
        string work = TestEnvironment.NewTempDir();
        var consumer = new PackageConsumer(output, work);
        string feed = consumer.Feed, version = consumer.Version;

        // 1. Pack the libraries in one build (a solution filter of Latent.sln).
        string filter = Path.Combine(work, "libraries.slnf");
        File.WriteAllText(filter, JsonSerializer.Serialize(new
        {
            solution = new { path = Path.Combine(RepoRoot, "Latent.sln"), projects = Libraries.Select(l => $"src\\{l}\\Latent.{l}.csproj").ToArray() },
        }));
        consumer.Pack(filter, RepoRoot, Timeout);
        foreach (string library in Libraries)
        {
            string package = Path.Combine(feed, $"Latent.{library}.{version}.nupkg");
            Assert.True(File.Exists(package), $"Latent.{library} was not packed");
            using var zip = ZipFile.OpenRead(package);
            Assert.Contains(zip.Entries, e => e.FullName == "README.md");
            Assert.Contains(zip.Entries, e => e.FullName == "LICENSE");                 // the licence's text ...
            using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            Assert.Contains("<license type=\"expression\">Apache-2.0</license>", nuspec.ReadToEnd());   // ... and its SPDX id
        }
        using (var core = ZipFile.OpenRead(Path.Combine(feed, $"Latent.Core.{version}.nupkg")))
            Assert.Contains(core.Entries, e => e.FullName == "buildTransitive/Latent.Core.targets");

        // 2. A scratch app outside the repository: only Latent.Pipeline, and the README's example.
        consumer.CreateApp("Latent.Pipeline", """
            using Latent.Core.Imaging;
            using Latent.Pipeline;
            string dir = args[0];
            using var pipe = StableDiffusionPipeline.Load(dir, new PipelineOptions { Runtime = UNetRuntime.Auto });
            using var result = pipe.Generate(new GenerationRequest { Prompts = ["a cat"], GuidanceScale = 7.5, Steps = 30, Seed = 1 });
            ImageIO.SavePng(result.Images[0], "cat.png");
            Console.WriteLine($"image [{string.Join(", ", result.Images.shape)}]");
            """);
        string parity = Path.Combine(RepoRoot, "tests", "fixtures", "parity");
        string ran = consumer.Run("dotnet", $"run -c Release -- \"{parity}\"", consumer.App, Timeout, ("LATENT_CACHE_DIR", Path.Combine(work, "cache")));
        Assert.Contains("image [1, 3, ", ran);
        Assert.True(new FileInfo(Path.Combine(consumer.App, "cat.png")).Length > 0);
        consumer.Delete();
    }
}
