using Latent.Core.Engine;
using Latent.Pipeline.Ort;
using Latent.TextEncoder;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Ort;

/// <summary>ONNX Runtime's optimised models on disk: a second open of the same weights reads the file, and anything else rebuilds it.</summary>
public class OnnxModelCacheTests
{
    static ClipTextModel TinyTextEncoder(long seed)
    {
        manual_seed(seed);
        var model = new ClipTextModel(ClipTextConfig.Tiny);
        model.eval();
        return model;
    }

    [Fact]
    public void SecondOpen_ReadsTheOptimisedModel_AndComputesTheSame()
    {
        using var scope = NewDisposeScope();
        var cache = new OnnxModelCache(TestEnvironment.NewTempDir());
        using var model = TinyTextEncoder(1);
        using var ids = randint(ClipTextConfig.Tiny.VocabSize, [2, 9], generator: new Generator(2));
        using var first = new OnnxRuntimeTextEncoder(model, cache);
        using var second = new OnnxRuntimeTextEncoder(model, cache);
        Assert.False(first.FromCache);
        Assert.True(second.FromCache);
        Assert.Single(Directory.GetFiles(cache.Directory, "*.onnx"));
        Assert.Empty(Directory.GetFiles(cache.Directory, "*.tmp"));                 // the temporary file was renamed into place
        Assert.True(first.Forward(ids).eq(second.Forward(ids)).all().item<bool>());
    }

    [Fact]
    public void ChangedWeight_GivesAnotherKey()
    {
        using var model = TinyTextEncoder(3);
        string before = OnnxModelCache.WeightsHash(model);
        Assert.Equal(before, OnnxModelCache.WeightsHash(model));
        using (no_grad())
        {
            var p = model.parameters().First();
            using var scope = NewDisposeScope();
            p.add_(ones_like(p), Scalars.One);
        }
        Assert.NotEqual(before, OnnxModelCache.WeightsHash(model));
        Assert.NotEqual(OnnxModelCache.Key("unet", before), OnnxModelCache.Key("text_encoder", before));
    }

    [Fact]
    public void DamagedFile_IsRebuilt()
    {
        var cache = new OnnxModelCache(TestEnvironment.NewTempDir());
        using var model = TinyTextEncoder(4);
        using (new OnnxRuntimeTextEncoder(model, cache)) { }
        string file = Assert.Single(Directory.GetFiles(cache.Directory, "*.onnx"));
        File.WriteAllBytes(file, [1, 2, 3, 4]);
        using var rebuilt = new OnnxRuntimeTextEncoder(model, cache);
        Assert.False(rebuilt.FromCache);
        Assert.True(new FileInfo(file).Length > 4);
    }

    [Fact]
    public void UnwritableFolder_RunsWithoutCaching()
    {
        using var scope = NewDisposeScope();
        // A file where the folder should be: nothing can be cached, but the model still runs.
        string blocker = Path.Combine(TestEnvironment.NewTempDir(), "not-a-folder");
        File.WriteAllText(blocker, "x");
        var cache = new OnnxModelCache(Path.Combine(blocker, "onnx"));
        using var model = TinyTextEncoder(5);
        using var onnx = new OnnxRuntimeTextEncoder(model, cache);
        Assert.False(onnx.FromCache);
        using var ids = randint(ClipTextConfig.Tiny.VocabSize, [1, 4], generator: new Generator(6));
        using var noGrad = no_grad();
        using var expected = model.forward(ids);
        using var actual = onnx.Forward(ids);
        Assert.True((expected - actual).abs().max().item<float>() < 1e-4f);
    }

    [Fact]
    public void Pipeline_SecondLoad_SkipsExportAndOptimisation_SameImages()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        var options = new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime, OnnxCacheDirectory = dir };
        var request = new GenerationRequest { Prompts = ["a photo of a cat"], Steps = 2, Seed = 1, GuidanceScale = 7.5 };
        using var first = StableDiffusionPipeline.Load(TestEnvironment.Parity, options);
        using var second = StableDiffusionPipeline.Load(TestEnvironment.Parity, options);
        Assert.DoesNotContain(first.LoadTimings.Stages, s => s.Key.Contains("from the cache", StringComparison.Ordinal));
        Assert.Equal(3, second.LoadTimings.Stages.Count(s => s.Key.Contains("from the cache", StringComparison.Ordinal)));
        using var a = first.Generate(request);
        using var b = second.Generate(request);
        Assert.True(a.Images.eq(b.Images).all().item<bool>());
        Assert.Equal(["text encoder", "denoising (2 U-Net calls)", "VAE decode"], a.Timings.Stages.Select(s => s.Key));
    }

    [Fact]
    public void FilesHash_ChangesWithAByteOrAName_NotWithTheFolder()
    {
        string a = TestEnvironment.NewTempDir(), b = TestEnvironment.NewTempDir();
        File.WriteAllBytes(Path.Combine(a, "w.bin"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(b, "w.bin"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(b, "v.bin"), [1, 2, 3]);
        string hash = OnnxModelCache.FilesHash(Path.Combine(a, "w.bin"));
        Assert.Equal(hash, OnnxModelCache.FilesHash(Path.Combine(b, "w.bin")));
        Assert.NotEqual(hash, OnnxModelCache.FilesHash(Path.Combine(b, "v.bin")));
        File.WriteAllBytes(Path.Combine(b, "w.bin"), [1, 2, 4]);
        Assert.NotEqual(hash, OnnxModelCache.FilesHash(Path.Combine(b, "w.bin")));
        Assert.Throws<FileNotFoundException>(() => OnnxModelCache.FilesHash(Path.Combine(a, "missing.bin")));
    }

    [Fact]
    public void RememberedWeightsHash_RoundTrips_AndADamagedOneIsUnknown()
    {
        var cache = new OnnxModelCache(TestEnvironment.NewTempDir());
        string files = new('a', 64), weights = new('b', 64);
        Assert.Null(cache.RememberedWeightsHash(files));
        cache.RememberWeightsHash(files, weights);
        Assert.Equal(weights, cache.RememberedWeightsHash(files));
        File.WriteAllText(Path.Combine(cache.Directory, "weights", $"{files}.txt"), "not a hash");
        Assert.Null(cache.RememberedWeightsHash(files));
    }

    [Fact]
    public void DefaultDirectory_FollowsLatentCacheDir()
    {
        string? saved = Environment.GetEnvironmentVariable("LATENT_CACHE_DIR");
        try
        {
            Environment.SetEnvironmentVariable("LATENT_CACHE_DIR", "/tmp/latent-cache-test");
            Assert.Equal(Path.Combine("/tmp/latent-cache-test", "onnx"), OnnxModelCache.DefaultDirectory());
        }
        finally
        {
            Environment.SetEnvironmentVariable("LATENT_CACHE_DIR", saved);
        }
    }
}
