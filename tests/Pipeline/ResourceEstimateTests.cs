using System.Text.Json.Nodes;
using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;

namespace Latent.Pipeline.Tests;

/// <summary>Sizes are estimated, and refused, before anything of that size exists (issue 21 items 2 and 8).</summary>
public class ResourceEstimateTests
{
    static long Parameters(torch.nn.Module module) => module.parameters().Sum(p => p.numel());

    public static TheoryData<string> Folders => new() { "parity", "shipped" };

    static string Folder(string name) => name == "parity" ? TestEnvironment.Parity : ShippedModelTests.ShippedFolder();

    [Theory]
    [MemberData(nameof(Folders))]
    public void ParameterCounts_AreExact_ForTheModelsWeShip(string name)
    {
        string root = Folder(name);
        using (var unet = UNet2DConditionModel.FromPretrained(Path.Combine(root, "unet")))
            Assert.Equal(Parameters(unet), ResourceEstimate.UNetParameters(unet.Config));
        using (var vae = AutoencoderKL.FromPretrained(Path.Combine(root, "vae")))
            Assert.Equal(Parameters(vae), ResourceEstimate.VaeParameters(vae.Config));
        using (var text = ClipTextModel.FromPretrained(Path.Combine(root, "text_encoder")))
            Assert.Equal(Parameters(text), ResourceEstimate.TextEncoderParameters(text.Config));
    }

    [Fact]
    public void Load_RefusesAConfigThatOutgrowsItsWeights_BeforeBuilding()
    {
        string dir = PipelineLoadTests.CopyOfParity();
        string config = Path.Combine(dir, "unet", "config.json");
        var node = JsonNode.Parse(File.ReadAllText(config))!.AsObject();
        node["block_out_channels"] = new JsonArray(1024, 1024); // within ConfigLimits, but ~100x the file's parameters
        File.WriteAllText(config, node.ToJsonString());

        var e = Assert.Throws<InvalidDataException>(() => StableDiffusionPipeline.Load(dir));

        Assert.Contains(config, e.Message);
        Assert.Contains("diffusion_pytorch_model.safetensors", e.Message);
        Assert.Contains("block_out_channels", e.Message);
    }

    [Fact]
    public void GenerationBytes_OfAHugeSize_ExceedAnyMachine_AndCheckFitsSaysSo()
    {
        double bytes = ResourceEstimate.GenerationBytes(UNetConfig.Tiny, VaeConfig.Tiny, 65536, 65536, 2, 1, materializedAttention: true);
        Assert.True(bytes > 1e15, $"{bytes}");
        var e = Assert.Throws<InsufficientMemoryException>(() => ResourceEstimate.CheckFits(bytes, "generating", available: 8L << 30));
        Assert.Contains("8.0 GiB is available", e.Message);
        ResourceEstimate.CheckFits(1 << 20, "a small thing", available: 8L << 30);
    }

    [Fact]
    public void Generate_RefusesAHugeSize_BeforeAllocating()
    {
        using var pipeline = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        var e = Assert.Throws<InsufficientMemoryException>(() =>
            pipeline.Generate(new GenerationRequest { Prompts = ["a cat"], Steps = 1, Seed = 1, Width = 65536, Height = 65536 }));
        Assert.Contains("65536x65536", e.Message);
    }

    [Fact]
    public void Generate_RefusesStepsTheSchedulerConfigCannotTake_NamingIt()
    {
        using var pipeline = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        var e = Assert.Throws<ArgumentException>(() =>
            pipeline.Generate(new GenerationRequest { Prompts = ["a cat"], Steps = 1000, Seed = 1 }));
        Assert.Contains(Path.Combine(TestEnvironment.Parity, "scheduler", "scheduler_config.json"), e.Message);
        Assert.Contains("steps_offset = 1", e.Message);
        Assert.Contains("at most 999 steps", e.Message);
    }

    [Fact]
    public void StepsFit_AcceptsEveryCountOfTrailingSpacing()
    {
        var config = SchedulerConfig.ForClass(SchedulerConfig.DdimClassName) with { TimestepSpacing = TimestepSpacing.Trailing, StepsOffset = 0 };
        SchedulerChecks.StepsFit(config, 1000, "test");
    }
}
