using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Pipeline.Ort;
using Latent.UNetCrossAttn;
using Latent.Vae;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Ort;

/// <summary>
/// A warm start (issue 23 item 4): with the cache filled by an earlier load, the parts ONNX Runtime runs build no
/// LibTorch module at all; one is built from the files only when a call needs LibTorch (and the files are unchanged).
/// </summary>
public class WarmStartTests
{
    static readonly GenerationRequest Small = new() { Prompts = ["a photo of a cat"], Steps = 2, Seed = 1, GuidanceScale = 7.5 };

    static PipelineOptions Auto(string cache) => new() { Runtime = UNetRuntime.Auto, OnnxCacheDirectory = Path.Combine(cache, "onnx") };

    /// <summary>A cache folder whose runtime decision for the parity U-Net says ONNX Runtime (as the probe would on a machine where it wins).</summary>
    static string CacheDecidingOnnxRuntime(string model)
    {
        string cache = TestEnvironment.NewTempDir();
        using var unet = UNet2DConditionModel.FromPretrained(Path.Combine(model, "unet"));
        string path = RuntimeProbe.DecisionPath(Path.Combine(cache, "onnx"), OnnxModelCache.WeightsHash(unet));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, """{"runtime":"OnnxRuntime","libtorch_ms":2.0,"onnxruntime_ms":1.0}""");
        return cache;
    }

    [Fact]
    public void WarmCache_Auto_BuildsNoLibTorchModule_AndGivesTheSameImages()
    {
        using var scope = NewDisposeScope();
        string cache = CacheDecidingOnnxRuntime(TestEnvironment.Parity);
        Tensor expected;
        using (var cold = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache)))
        {
            Assert.True(cold.TorchModules.Builds > 0);                       // built to hash and export, then freed
            Assert.Equal((false, false, false), (cold.TorchModules.UNet, cold.TorchModules.TextEncoder, cold.TorchModules.Vae));
            using var result = cold.Generate(Small);
            expected = result.Images.clone();
        }
        using var warm = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache));
        Assert.Equal(UNetRuntime.OnnxRuntime, warm.Runtime);
        Assert.Equal((false, false, false, 0), warm.TorchModules);
        Assert.DoesNotContain(warm.LoadTimings.Stages, s => s.Key.StartsWith("read the weights", StringComparison.Ordinal));
        using var again = warm.Generate(Small);
        Assert.Equal((false, false, false, 0), warm.TorchModules);
        Assert.True(again.Images.eq(expected).all().item<bool>());
        expected.Dispose();
    }

    [Fact]
    public void WarmCache_CallTooLargeForOnnxRuntime_BuildsTheUNetOnce_AndMatchesLibTorch()
    {
        using var scope = NewDisposeScope();
        string cache = CacheDecidingOnnxRuntime(TestEnvironment.Parity);
        StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache)).Dispose();   // fills the cache
        using var warm = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache));
        // Memory between what LibTorch's attention needs and what ONNX Runtime's would: this call must fall back.
        var unetConfig = ConfigFile.Read<UNetConfig>(Path.Combine(TestEnvironment.Parity, "unet", "config.json"), UNetConfig.ClassNameValue).Config;
        var vaeConfig = ConfigFile.Read<VaeConfig>(Path.Combine(TestEnvironment.Parity, "vae", "config.json"), VaeConfig.ClassNameValue).Config;
        int side = warm.DefaultSize;
        double onnx = ResourceEstimate.GenerationBytes(unetConfig, vaeConfig, side, side, 2, 1, materializedAttention: true);
        double torch = ResourceEstimate.GenerationBytes(unetConfig, vaeConfig, side, side, 2, 1, materializedAttention: false);
        Assert.True(onnx > torch);
        warm.AvailableMemory = () => (long)((onnx + torch) / 2);
        using var fallback = warm.Generate(Small);
        Assert.Equal((true, false, false, 1), warm.TorchModules);           // only the U-Net, built from its files
        using var again = warm.Generate(Small);
        Assert.Equal(1, warm.TorchModules.Builds);                          // and kept
        using var libtorch = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        using var reference = libtorch.Generate(Small);
        float diff = fallback.Images.sub(reference.Images).abs().max().item<float>();
        Assert.True(diff < 1e-3f, $"max |fallback - libtorch| = {diff}");
        Assert.True(fallback.Images.eq(again.Images).all().item<bool>());
    }

    [Fact]
    public void WarmCache_ImageToImage_ReadsTheEncoderFromTheCache_BuildingNoModule()
    {
        using var scope = NewDisposeScope();
        string cache = CacheDecidingOnnxRuntime(TestEnvironment.Parity);
        using var image = TestTensors.UniformPixels([3, 32, 32], new Generator(3));
        var request = new ImageToImageRequest { Generation = Small, Image = image, Strength = 0.5 };
        Tensor expected;
        using (var cold = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache)))
        using (var first = cold.ImageToImage(request))                       // exports the VAE's encoder into the cache
            expected = first.Images.clone();
        using var warm = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache));
        using var second = warm.ImageToImage(request);
        Assert.Equal((false, false, false, 0), warm.TorchModules);
        Assert.True(second.Images.eq(expected).all().item<bool>());
        expected.Dispose();
    }

    [Fact]
    public void WarmCache_FilesChangedAfterLoad_RefusesToBuildFromThem()
    {
        using var scope = NewDisposeScope();
        string dir = PipelineLoadTests.CopyOfParity();
        string cache = CacheDecidingOnnxRuntime(dir);
        StableDiffusionPipeline.Load(dir, Auto(cache)).Dispose();
        using var warm = StableDiffusionPipeline.Load(dir, Auto(cache));
        Assert.Equal(0, warm.TorchModules.Builds);
        using (var other = UNet2DConditionModel.FromPretrained(Path.Combine(dir, "unet")))
        {
            using (no_grad()) other.parameters().First().add_(ones_like(other.parameters().First()), Scalars.One);
            other.SavePretrained(Path.Combine(dir, "unet"));
        }
        var e = Assert.Throws<InvalidOperationException>(() => warm.SavePretrained(Path.Combine(TestEnvironment.NewTempDir(), "x")));
        Assert.Contains("changed since the pipeline was loaded", e.Message);
    }

    [Fact]
    public void ChangedFiles_AreNotTakenForTheRememberedWeights()
    {
        using var scope = NewDisposeScope();
        // Files of another hash: the module is built to hash its weights, and the graphs are exported anew.
        string dir = PipelineLoadTests.CopyOfParity();
        string cache = TestEnvironment.NewTempDir();
        var options = new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime, OnnxCacheDirectory = Path.Combine(cache, "onnx") };
        Tensor before;
        using (var first = StableDiffusionPipeline.Load(dir, options))
        using (var result = first.Generate(Small))
            before = result.Images.clone();
        using (var other = UNet2DConditionModel.FromPretrained(Path.Combine(dir, "unet")))
        {
            using (no_grad()) other.parameters().Last().add_(ones_like(other.parameters().Last()), Scalars.One);   // the output conv's bias
            other.SavePretrained(Path.Combine(dir, "unet"));
        }
        using var second = StableDiffusionPipeline.Load(dir, options);
        Assert.Equal(1, second.TorchModules.Builds);                         // the U-Net only; the others were remembered
        Assert.Contains(second.LoadTimings.Stages, s => s.Key.StartsWith("ONNX Runtime U-Net (export", StringComparison.Ordinal));
        using var after = second.Generate(Small);
        Assert.False(after.Images.eq(before).all().item<bool>());
        before.Dispose();
    }
}
