using Latent.Pipeline.Ort;
using Latent.UNetCrossAttn;

namespace Latent.Pipeline.Tests.Ort;

/// <summary>--runtime auto with a cache folder: measured once per machine and model, then read back.</summary>
public class RuntimeProbeTests
{
    static PipelineOptions Auto(string cache) => new() { Runtime = UNetRuntime.Auto, OnnxCacheDirectory = Path.Combine(cache, "onnx") };

    [Fact]
    public void FirstLoad_Measures_SecondLoad_ReadsTheDecision()
    {
        string cache = TestEnvironment.NewTempDir();
        using var first = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache));
        RuntimeDecision measured = Assert.IsType<RuntimeDecision>(first.RuntimeDecision);
        Assert.False(measured.FromCache);
        Assert.True(measured.LibTorchMs > 0 && measured.OnnxRuntimeMs > 0);
        Assert.Equal(measured.Runtime, first.Runtime);
        Assert.Single(Directory.GetFiles(Path.Combine(cache, "runtime"), "*.json"));
        Assert.Contains(first.LoadTimings.Stages, s => s.Key.StartsWith("runtime probe", StringComparison.Ordinal));

        using var second = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache));
        RuntimeDecision read = Assert.IsType<RuntimeDecision>(second.RuntimeDecision);
        Assert.True(read.FromCache);
        Assert.Equal(measured.Runtime, second.Runtime);
        Assert.DoesNotContain(second.LoadTimings.Stages, s => s.Key.StartsWith("runtime probe", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(UNetRuntime.LibTorch)]
    [InlineData(UNetRuntime.OnnxRuntime)]
    public void StoredDecision_IsObeyed_AndGivesTheSameImages(UNetRuntime stored)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        string cache = TestEnvironment.NewTempDir();
        using (var unet = UNet2DConditionModel.FromPretrained(Path.Combine(TestEnvironment.Parity, "unet")))
        {
            string path = RuntimeProbe.DecisionPath(Path.Combine(cache, "onnx"), OnnxModelCache.WeightsHash(unet));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, $$"""{"runtime":"{{stored}}","libtorch_ms":1.5,"onnxruntime_ms":2.5}""");
        }
        using var pipe = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache));
        Assert.Equal(stored, pipe.Runtime);
        Assert.Equal(UNetRuntime.OnnxRuntime, pipe.TextEncoderAndVaeRuntime);
        Assert.Equal(1.5, pipe.RuntimeDecision!.LibTorchMs);
        using var torch = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        var request = new GenerationRequest { Prompts = ["a photo of a cat"], Steps = 2, Seed = 1, GuidanceScale = 7.5 };
        using var a = pipe.Generate(request);
        using var b = torch.Generate(request);
        float diff = a.Images.sub(b.Images).abs().max().item<float>();
        Assert.True(diff < 1e-3f, $"max |auto - libtorch| = {diff}");
    }

    [Fact]
    public void DamagedDecision_IsMeasuredAgain()
    {
        string cache = TestEnvironment.NewTempDir();
        string path;
        using (var unet = UNet2DConditionModel.FromPretrained(Path.Combine(TestEnvironment.Parity, "unet")))
            path = RuntimeProbe.DecisionPath(Path.Combine(cache, "onnx"), OnnxModelCache.WeightsHash(unet));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "{ not json");
        using var pipe = StableDiffusionPipeline.Load(TestEnvironment.Parity, Auto(cache));
        Assert.False(pipe.RuntimeDecision!.FromCache);
        Assert.NotNull(RuntimeProbe.Read(path));
    }

    [Fact]
    public void WithoutACacheFolder_TheRuleDecides()
    {
        using var pipe = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Runtime = UNetRuntime.Auto });
        Assert.Null(pipe.RuntimeDecision);
        Assert.Equal(UNetRuntime.OnnxRuntime, pipe.Runtime);
    }
}
