using System.Runtime.CompilerServices;
using Latent.TextEncoder;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

/// <summary>The default model committed in weights/emoji-64: it loads strictly, stays under its size budget, and
/// generates the same image for the same seed.</summary>
public class ShippedModelTests
{
    /// <summary>weights/emoji-64 of the repository the test binary was built in: found above the binary, or, when the
    /// binary was built elsewhere (<c>--artifacts-path</c> outside the clone), beside this source file.</summary>
    internal static string ShippedFolder([CallerFilePath] string sourceFile = "")
    {
        var starts = new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) ?? "" };
        foreach (string start in starts.Where(s => s.Length > 0 && Directory.Exists(s)))
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "weights", "emoji-64");
                if (File.Exists(Path.Combine(candidate, "model_index.json"))) return candidate;
            }
        throw new DirectoryNotFoundException(
            $"no weights/emoji-64/model_index.json above {AppContext.BaseDirectory} or {Path.GetDirectoryName(sourceFile)}; the repository ships it");
    }

    [Fact]
    public void Folder_HasTheSixParts_UnderSixtyMegabytes()
    {
        string root = ShippedFolder();
        foreach (string part in new[] { "vae", "text_encoder", "tokenizer", "unet", "scheduler", "image_encoder" })
            Assert.True(Directory.Exists(Path.Combine(root, part)), $"missing {part}/");
        long bytes = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(bytes < 60_000_000, $"weights/emoji-64 holds {bytes:N0} bytes; the budget is 60 MB");
    }

    [Fact]
    public void Pipeline_LoadsStrictly_AndIsDeterministic()
    {
        using var scope = NewDisposeScope();
        using var pipeline = StableDiffusionPipeline.Load(ShippedFolder());
        Assert.Equal(64, pipeline.DefaultSize);
        var request = new GenerationRequest { Prompts = ["a cat"], Steps = 3, Seed = 7 };
        using var first = pipeline.Generate(request);
        using var second = pipeline.Generate(request);
        Assert.Equal(new long[] { 1, 3, 64, 64 }, first.Images.shape);
        Assert.True(first.Images.equal(second.Images).all().item<bool>(), "the same seed gave another image");
        Assert.True(first.Images.isfinite().all().item<bool>());
    }

    [Fact]
    public void ImageEncoder_LoadsWithTheTextEncoder_AsOneClip()
    {
        using var clip = ClipModelFolder.Load(ShippedFolder());
        Assert.Equal(64, clip.ImageConfig.ImageSize);
        Assert.Equal(256, clip.TextConfig.HiddenSize);
        using var pixels = zeros(1, 3, 64, 64);
        using var embedding = clip.EncodeImage(pixels);
        Assert.Equal(new long[] { 1, 256 }, embedding.shape);
    }
}
