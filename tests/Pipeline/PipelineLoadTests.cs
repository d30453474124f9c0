using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

public class PipelineLoadTests(ITestOutputHelper output)
{
    static readonly GenerationRequest Small = new() { Prompts = ["a photo of a cat"], Steps = 2, Seed = 1 };

    /// <summary>A copy of the parity folder to damage.</summary>
    internal static string CopyOfParity()
    {
        string dir = Path.Combine(TestEnvironment.NewTempDir(), "model");
        foreach (string file in Directory.GetFiles(TestEnvironment.Parity, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(TestEnvironment.Parity, file);
            if (relative.StartsWith("vectors")) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, relative))!);
            File.Copy(file, Path.Combine(dir, relative));
        }
        return dir;
    }

    [Fact]
    public void MissingFolder_ThrowsDirectoryNotFound_WithThePath()
    {
        string dir = Path.Combine(TestEnvironment.NewTempDir(), "nothing-here");
        var e = Assert.Throws<DirectoryNotFoundException>(() => StableDiffusionPipeline.Load(dir));
        Assert.Contains(dir, e.Message);
    }

    [Theory]
    [InlineData("unet/diffusion_pytorch_model.safetensors")]
    [InlineData("tokenizer/merges.txt")]
    [InlineData("scheduler/scheduler_config.json")]
    [InlineData("model_index.json")]
    public void MissingComponentFile_ThrowsFileNotFound_NamingIt(string file)
    {
        string dir = CopyOfParity();
        File.Delete(Path.Combine(dir, file));
        var e = Assert.Throws<FileNotFoundException>(() => StableDiffusionPipeline.Load(dir));
        Assert.Contains(Path.GetFileName(file), e.Message);
    }

    [Fact]
    public void WeightsOfAnotherShape_ThrowInvalidData_NamingTheComponentAndKey()
    {
        string dir = CopyOfParity();
        string config = Path.Combine(dir, "unet", "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"layers_per_block\": 2", "\"layers_per_block\": 1"));
        var e = Assert.Throws<InvalidDataException>(() => StableDiffusionPipeline.Load(dir));
        Assert.Contains("unet", e.Message);
        Assert.Contains("down_blocks.0.resnets.1", e.Message);
    }

    [Fact]
    public void UnsupportedClassForANeededComponent_ThrowsInvalidData()
    {
        string dir = CopyOfParity();
        string index = Path.Combine(dir, "model_index.json");
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"AutoencoderKL\"", "\"VQModel\""));
        var e = Assert.Throws<InvalidDataException>(() => StableDiffusionPipeline.Load(dir));
        Assert.Contains("\"vae\" is a VQModel", e.Message);
    }

    [Fact]
    public void RealSafetyCheckerEntry_IsIgnored()
    {
        string dir = CopyOfParity();
        string index = Path.Combine(dir, "model_index.json");
        string text = File.ReadAllText(index);
        int at = text.IndexOf("\"safety_checker\"", StringComparison.Ordinal);
        int end = text.IndexOf(']', at);
        text = text[..at] + "\"safety_checker\": [\"stable_diffusion\", \"StableDiffusionSafetyChecker\"" + text[end..];
        File.WriteAllText(index, text);
        using var pipe = StableDiffusionPipeline.Load(dir);
        Assert.Equal("model", pipe.ModelName);
    }

    [Fact]
    public void HalfPrecisionWeights_LoadAndGiveNearlyTheSameImages()
    {
        using var scope = NewDisposeScope();
        string dir = CopyOfParity();
        using (var unet = UNet2DConditionModel.FromPretrained(Path.Combine(dir, "unet"))) unet.SavePretrained(Path.Combine(dir, "unet"), ScalarType.Float16);
        using (var vae = AutoencoderKL.FromPretrained(Path.Combine(dir, "vae"))) vae.SavePretrained(Path.Combine(dir, "vae"), ScalarType.BFloat16);
        using var half = StableDiffusionPipeline.Load(dir);
        using var full = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        using var a = half.Generate(Small);
        using var b = full.Generate(Small);
        Assert.True(a.Images.isfinite().all().item<bool>());
        Assert.True(a.Images.sub(b.Images).abs().mean().item<float>() < 0.05f);
    }

    [Fact]
    public void Bf16Compute_GivesNearlyTheFp32Images_OrIsRefused()
    {
        using var scope = NewDisposeScope();
        // Never silently wrong: where this engine's bf16 is wrong on this CPU, loading refuses it (BFloat16Check);
        // where it loads, its images must be close to float32's.
        StableDiffusionPipeline bf16;
        try
        {
            bf16 = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Dtype = ScalarType.BFloat16 });
        }
        catch (BFloat16InaccurateException e)
        {
            output.WriteLine($"bf16 refused on this CPU: {e.Message}");
            Assert.True(!e.Engine.Accurate || e.Model is { Ok: false }, "a refusal must name what was off");
            return;
        }
        using (bf16)
        {
            using var fp32 = StableDiffusionPipeline.Load(TestEnvironment.Parity);
            using var a = bf16.Generate(Small);
            using var b = fp32.Generate(Small);
            Assert.Equal(ScalarType.Float32, a.Images.dtype);
            double diff = a.Images.sub(b.Images).abs().mean().item<float>();
            Assert.True(diff > 0 && diff < 0.05, $"mean |bf16 - fp32| = {diff}");
        }
    }

    [Fact]
    public void Bf16_IsRefusedForAUNetWhoseBf16OutputIsOff_NamingTheErrorAndFp32()
    {
        using var scope = NewDisposeScope();
        // A U-Net that bf16 cannot carry on any CPU: conv_norm_out adds 1000 to every activation, and conv_out's weights
        // sum to zero over the input channels, so float32 cancels the offset exactly while bf16 (8 bits; a step of 4 at
        // 1000) loses the signal under it. The load-time check must see the output off and refuse, as for a wrong kernel.
        string dir = CopyOfParity();
        string unetDir = Path.Combine(dir, "unet");
        using (var unet = UNet2DConditionModel.FromPretrained(unetDir))
        {
            using var noGrad = no_grad();
            using var offset = 1000.0.ToScalar();
            var parameters = unet.state_dict();
            parameters["conv_norm_out.bias"].add_(offset, Scalars.One);
            Tensor w = parameters["conv_out.weight"]; // [Cout, Cin, 3, 3]
            using (var mean = w.mean([1], keepdim: true)) w.sub_(mean);
            unet.SavePretrained(unetDir);
        }
        using (var fp32 = StableDiffusionPipeline.Load(dir)) Assert.Equal(UNetRuntime.LibTorch, fp32.Runtime); // float32 is unaffected

        var e = Assert.Throws<BFloat16InaccurateException>(() => StableDiffusionPipeline.Load(dir, new PipelineOptions { Dtype = ScalarType.BFloat16 }));
        output.WriteLine(e.Message);
        Assert.NotNull(e.Model);
        Assert.False(e.Model.Ok);
        Assert.Contains("the U-Net's output in bf16 vs float32 on [2, 4, 16, 16] latents: ", e.Message);
        Assert.Contains("--dtype fp32", e.Message);
    }

    [Fact]
    public void Constructor_WithBf16UNet_RunsOnlyWhereTheEngineCheckPasses()
    {
        using var scope = NewDisposeScope();
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var text = new ClipTextModel(ClipTextConfig.Tiny with { HiddenSize = 16, IntermediateSize = 32 });
        using var unet = new UNet2DConditionModel(UNetConfig.Tiny);
        unet.to(ScalarType.BFloat16);
        var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(TestEnvironment.Parity, "tokenizer"));
        var scheduler = SchedulerConfig.ForClass(SchedulerConfig.DdimClassName);
        if (BFloat16Check.Engine.Accurate)
        {
            using var pipe = new StableDiffusionPipeline(vae, text, tokenizer, unet, scheduler);
            using var result = pipe.Generate(Small with { Width = 16, Height = 16 });
            Assert.True(result.Images.isfinite().all().item<bool>());
        }
        else
        {
            var e = Assert.Throws<BFloat16InaccurateException>(() => new StableDiffusionPipeline(vae, text, tokenizer, unet, scheduler));
            Assert.Null(e.Model);
        }
    }

    [Fact]
    public void OnnxRuntime_GivesTheLibTorchImages()
    {
        using var scope = NewDisposeScope();
        // Same function in another engine: per-call differences are float32 rounding (~1e-6), so the images agree closely.
        using var onnx = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime });
        using var torch = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        Assert.Equal(UNetRuntime.OnnxRuntime, onnx.Runtime);
        Assert.Equal(UNetRuntime.OnnxRuntime, onnx.TextEncoderAndVaeRuntime);
        Assert.Equal(UNetRuntime.LibTorch, torch.Runtime);
        Assert.Equal(UNetRuntime.LibTorch, torch.TextEncoderAndVaeRuntime);
        var request = Small with { GuidanceScale = 7.5, ImagesPerPrompt = 2 };
        using var a = onnx.Generate(request);
        using var b = torch.Generate(request);
        Assert.Equal(b.Images.shape, a.Images.shape);
        float diff = a.Images.sub(b.Images).abs().max().item<float>();
        Assert.True(diff < 1e-3f, $"max |onnxruntime - libtorch| = {diff}");
    }

    [Fact]
    public void OnnxRuntime_ImageToImage_GivesTheLibTorchImages()
    {
        using var scope = NewDisposeScope();
        // The VAE's encoder on ONNX Runtime too (opened on first use).
        using var onnx = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime });
        using var torch = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        using var image = rand(new long[] { 3, 32, 32 }, generator: new Generator(3)).mul(Scalars.Of(2)).sub(Scalars.Of(1));
        var request = new ImageToImageRequest { Generation = Small with { GuidanceScale = 7.5, Steps = 4 }, Image = image, Strength = 0.5 };
        using var a = onnx.ImageToImage(request);
        using var b = torch.ImageToImage(request);
        float diff = a.Images.sub(b.Images).abs().max().item<float>();
        Assert.True(diff < 1e-3f, $"max |onnxruntime - libtorch| = {diff}");
    }

    [Fact]
    public void OnnxRuntime_ReleasesLibTorchsCopy_AndReadsItBackToSave()
    {
        using var scope = NewDisposeScope();
        using var onnx = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime });
        Assert.True(onnx.TorchWeightsReleased);
        Assert.Contains(onnx.LoadTimings.Stages, s => s.Key.StartsWith("release LibTorch", StringComparison.Ordinal));
        using (onnx.Generate(Small)) { }
        string saved = Path.Combine(TestEnvironment.NewTempDir(), "saved");
        onnx.SavePretrained(saved);                  // needs LibTorch's weights: read back from the folder
        Assert.False(onnx.TorchWeightsReleased);
        using var original = UNet2DConditionModel.FromPretrained(Path.Combine(TestEnvironment.Parity, "unet"));
        using var copy = UNet2DConditionModel.FromPretrained(Path.Combine(saved, "unet"));
        var expected = original.state_dict();
        foreach (var (key, t) in copy.state_dict())
            Assert.True(t.eq(expected[key]).all().item<bool>(), $"{key} differs after the round trip");
    }

    [Fact]
    public void OnnxRuntime_FilesChangedAfterLoad_RefusesToReadThemBack()
    {
        using var scope = NewDisposeScope();
        string dir = CopyOfParity();
        using var onnx = StableDiffusionPipeline.Load(dir, new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime });
        using (var other = UNet2DConditionModel.FromPretrained(Path.Combine(dir, "unet")))
        {
            using (torch.no_grad()) other.parameters().First().add_(torch.ones_like(other.parameters().First()), Scalars.One);
            other.SavePretrained(Path.Combine(dir, "unet"));
        }
        var e = Assert.Throws<InvalidOperationException>(() => onnx.SavePretrained(Path.Combine(TestEnvironment.NewTempDir(), "x")));
        Assert.Contains("changed since the pipeline was loaded", e.Message);
    }

    [Fact]
    public void OnnxRuntime_SameSeedTwice_GivesTheSameImagesBitForBit()
    {
        using var scope = NewDisposeScope();
        using var onnx = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime });
        var request = Small with { GuidanceScale = 7.5, ImagesPerPrompt = 2, Steps = 3 };
        using var a = onnx.Generate(request);
        using var b = onnx.Generate(request);
        Assert.True(a.Images.eq(b.Images).all().item<bool>());
    }

    [Theory]
    [InlineData(ScalarType.Float32, UNetRuntime.OnnxRuntime)]
    [InlineData(ScalarType.BFloat16, UNetRuntime.LibTorch)]
    public void AutoRuntime_TakesOnnxRuntimeForFloat32Only(ScalarType dtype, UNetRuntime expected)
    {
        using var pipe = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Dtype = dtype, Runtime = UNetRuntime.Auto });
        Assert.Equal(expected, pipe.Runtime);
    }

    [Fact]
    public void UnknownRuntime_IsRejectedNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Runtime = (UNetRuntime)7 }));
        Assert.Contains("Runtime is 7", e.Message);
    }

    [Fact]
    public void OnnxRuntimeWithBf16_IsRejectedNamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => StableDiffusionPipeline.Load(TestEnvironment.Parity,
            new PipelineOptions { Dtype = ScalarType.BFloat16, Runtime = UNetRuntime.OnnxRuntime }));
        Assert.Contains("BFloat16", e.Message);
        Assert.Contains("OnnxRuntime", e.Message);
    }

    [Fact]
    public void Int8LinearWeights_OnAuto_RunTheUNetOnOnnxRuntime_CloseToFloat32()
    {
        // Auto with int8 asked for runs it (no LibTorch probe); the images stay near the float32 ones (the noise
        // prediction is within ~1% per call: OnnxRuntimeUNetInt8Tests), and differ from them (the option did something).
        using var int8 = StableDiffusionPipeline.Load(TestEnvironment.Parity,
            new PipelineOptions { Runtime = UNetRuntime.Auto, UNetLinearWeights = Latent.Core.Onnx.OnnxLinearWeights.DynamicInt8 });
        using var fp32 = StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime });
        Assert.Equal(UNetRuntime.OnnxRuntime, int8.Runtime);
        Assert.Equal(Latent.Core.Onnx.OnnxLinearWeights.DynamicInt8, int8.UNetLinearWeights);
        Assert.Equal(Latent.Core.Onnx.OnnxLinearWeights.Float32, fp32.UNetLinearWeights);
        var request = Small with { GuidanceScale = 7.5 };
        using var a = int8.Generate(request);
        using var b = fp32.Generate(request);
        float diff = a.Images.sub(b.Images).abs().max().item<float>();
        output.WriteLine($"max |int8 - fp32| over the image: {diff:E2} (images in [-1, 1])");
        Assert.InRange(diff, 1e-6f, 0.1f);
    }

    [Fact]
    public void Int8LinearWeights_WithLibTorch_IsRejectedNamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => StableDiffusionPipeline.Load(TestEnvironment.Parity,
            new PipelineOptions { Runtime = UNetRuntime.LibTorch, UNetLinearWeights = Latent.Core.Onnx.OnnxLinearWeights.DynamicInt8 }));
        Assert.Contains("DynamicInt8 with Runtime LibTorch", e.Message);
    }

    [Fact]
    public void Int8LinearWeights_WithBf16_IsRejectedNamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => StableDiffusionPipeline.Load(TestEnvironment.Parity,
            new PipelineOptions { Dtype = ScalarType.BFloat16, Runtime = UNetRuntime.Auto, UNetLinearWeights = Latent.Core.Onnx.OnnxLinearWeights.DynamicInt8 }));
        Assert.Contains("DynamicInt8 with Dtype BFloat16", e.Message);
    }

    [Fact]
    public void UnknownLinearWeights_IsRejectedNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => StableDiffusionPipeline.Load(TestEnvironment.Parity,
            new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime, UNetLinearWeights = (Latent.Core.Onnx.OnnxLinearWeights)9 }));
        Assert.Contains("UNetLinearWeights is 9", e.Message);
    }

    [Fact]
    public void Float16Compute_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => StableDiffusionPipeline.Load(TestEnvironment.Parity, new PipelineOptions { Dtype = ScalarType.Float16 }));
        Assert.Contains("Float16", e.Message);
    }

    [Fact]
    public void Constructor_OnTinyModels_GeneratesAndLeavesTheModulesUsableAndInTrainingMode()
    {
        manual_seed(0);
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var text = new ClipTextModel(ClipTextConfig.Tiny with { HiddenSize = 16, IntermediateSize = 32 });
        using var unet = new UNet2DConditionModel(UNetConfig.Tiny);
        var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(TestEnvironment.Parity, "tokenizer"));
        unet.train();
        var scheduler = ConfigFile.Read<SchedulerConfig>(Path.Combine(TestEnvironment.Parity, "scheduler", "scheduler_config.json")).Config;
        using (var pipe = new StableDiffusionPipeline(vae, text, tokenizer, unet, scheduler))
        {
            Assert.Equal(16, pipe.DefaultSize);              // Tiny U-Net sample_size 8 x VAE factor 2
            using var result = pipe.Generate(Small with { Width = 16, Height = 16 });
            Assert.Equal(new long[] { 1, 3, 16, 16 }, result.Images.shape);
            Assert.Null(result.Parameters[0].Model);
        }
        Assert.True(unet.training);                          // the mode is restored
        using var z = zeros(1, 4, 8, 8);
        using var decoded = vae.Decode(z);                   // not disposed by the pipeline
        Assert.Equal(new long[] { 1, 3, 16, 16 }, decoded.shape);
    }

    [Fact]
    public void Constructor_TextWidthNotTheCrossAttentionWidth_NamesBoth()
    {
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var text = new ClipTextModel(ClipTextConfig.Tiny);
        using var unet = new UNet2DConditionModel(UNetConfig.Tiny);
        var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(TestEnvironment.Parity, "tokenizer"));
        var e = Assert.Throws<ArgumentException>(() => new StableDiffusionPipeline(vae, text, tokenizer, unet, SchedulerConfig.ForClass(SchedulerConfig.DdimClassName)));
        Assert.Contains("hidden_size is 32", e.Message);
        Assert.Contains("cross_attention_dim is 16", e.Message);
    }

    /// <summary>A copy of the parity folder whose scheduler is <paramref name="className"/> (in both files that name it),
    /// its scheduler_config.json with <paramref name="extraKeys"/> after the class name.</summary>
    static string CopyOfParityWithScheduler(string className, string extraKeys = "")
    {
        string dir = CopyOfParity();
        foreach (string file in new[] { "model_index.json", "scheduler/scheduler_config.json" })
        {
            string path = Path.Combine(dir, file);
            string replacement = $"\"{className}\"" + (file.StartsWith("scheduler") ? extraKeys : "");
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"DDIMScheduler\"", replacement));
        }
        return dir;
    }

    [Fact]
    public void UnsupportedFolderScheduler_NeedsAChosenSampler()
    {
        using var pipe = StableDiffusionPipeline.Load(CopyOfParityWithScheduler("LMSDiscreteScheduler"));
        var e = Assert.Throws<NotSupportedException>(() => pipe.Generate(Small));
        Assert.Contains("LMSDiscreteScheduler", e.Message);
        using var result = pipe.Generate(Small with { Scheduler = SchedulerKind.Ddim });
        Assert.Equal("DDIM", result.Parameters[0].Sampler);
    }

    [Fact]
    public void Sd1xFolderScheduler_PlmsRunsAsTheFolderSays()
    {
        using var scope = NewDisposeScope();
        // SD 1.x folders name PNDMScheduler with skip_prk_steps: PLMS, one more U-Net call than steps.
        using var pipe = StableDiffusionPipeline.Load(CopyOfParityWithScheduler("PNDMScheduler", ", \"skip_prk_steps\": true"));
        int calls = 0;
        pipe.UNetCalled = _ => calls++;
        using var result = pipe.Generate(Small);
        Assert.Equal(Small.Steps + 1, calls);
        Assert.Equal("PLMS", result.Parameters[0].Sampler);
        Assert.True(result.Images.isfinite().all().item<bool>());
    }

    [Fact]
    public void PndmFolderScheduler_WithoutSkip_RunsTheRungeKuttaWarmUp()
    {
        using var scope = NewDisposeScope();
        // PNDMScheduler's own default (F-PNDM): twelve Runge-Kutta calls for the first three jumps, then one per step.
        using var pipe = StableDiffusionPipeline.Load(CopyOfParityWithScheduler("PNDMScheduler"));
        int calls = 0;
        pipe.UNetCalled = _ => calls++;
        using var result = pipe.Generate(Small with { Steps = 5 });
        Assert.Equal(5 + 9, calls);
        Assert.Equal("PNDM", result.Parameters[0].Sampler);
        Assert.True(result.Images.isfinite().all().item<bool>());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Generate(Small with { Steps = 3 }));
        Assert.Contains("at least 4 steps", e.Message);
    }
}
