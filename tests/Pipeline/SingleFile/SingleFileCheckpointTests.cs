using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.Pipeline.SingleFile;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.SingleFile;

/// <summary>The conformance set of ../shared/realformats: tiny-sd15/ and the same weights as one LDM file.</summary>
public class SingleFileCheckpointTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static string Real => Path.Combine(TestEnvironment.Fixtures, "realformats");
    static string Folder => Path.Combine(Real, "tiny-sd15");
    static string File1 => Path.Combine(Real, "tiny-sd15.safetensors");

    static readonly GenerationRequest Short = new() { Prompts = ["a photo of a cat"], Steps = 3, Seed = 7, GuidanceScale = 5.0, Width = 64, Height = 64 };

    /// <summary>The single file's tensors with <paramref name="change"/> applied, saved as a new file.</summary>
    static string Variant(Action<Dictionary<string, Tensor>> change, string name = "variant.safetensors")
    {
        TestEnvironment.Init();
        string path = Path.Combine(TestEnvironment.NewTempDir(), name);
        var tensors = SafeTensors.Load(File1);
        try
        {
            change(tensors);
            SafeTensors.Save(path, tensors);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        return path;
    }

    static void AssertSameStateDict(nn.Module expected, nn.Module actual, double tolerance)
    {
        using var scope = NewDisposeScope();
        var e = expected.state_dict();
        var a = actual.state_dict();
        Assert.Equal(e.Keys.Order(), a.Keys.Order());
        foreach (var (key, value) in e)
        {
            using var diff = value.sub(a[key]).abs().max();
            Assert.True(diff.item<float>() <= tolerance, $"{key}: max |diff| {diff.item<float>()}");
        }
    }

    [Theory]
    [InlineData("tiny-sd15.safetensors")]
    [InlineData("tiny-sd15.ckpt")]                 // read by PickleCheckpoint, no code run
    public void SingleFile_LoadsTheFoldersWeights_Exactly(string file)
    {
        TestEnvironment.Init();
        var folder = PipelineFolder.Load(Folder);
        var single = SingleFileCheckpoint.Load(Path.Combine(Real, file), Folder);
        try
        {
            AssertSameStateDict(folder.UNet, single.UNet, 0);
            AssertSameStateDict(folder.Vae, single.Vae, 0);
            AssertSameStateDict(folder.TextEncoder, single.TextEncoder, 0);
        }
        finally
        {
            foreach (var m in new nn.Module[] { folder.UNet, folder.Vae, folder.TextEncoder, single.UNet, single.Vae, single.TextEncoder }) m.Dispose();
        }
    }

    [Fact]
    public void SingleFile_GivesTheFoldersImage()
    {
        using var scope = NewDisposeScope();
        TestEnvironment.Init();
        using var folder = StableDiffusionPipeline.Load(Folder);
        using var single = StableDiffusionPipeline.Load(File1, new PipelineOptions { ConfigDirectory = Folder });
        using var a = folder.Generate(Short);
        using var b = single.Generate(Short);
        using var diff = a.Images.sub(b.Images).abs().max();
        output.WriteLine($"single file vs folder, 3-step txt2img 64x64: max |diff| {diff.item<float>():G3}");
        Assert.True(diff.item<float>() <= 1e-5f, $"max |diff| {diff.item<float>()}");
        Assert.Equal("tiny-sd15", single.ModelName);
    }

    [Fact]
    public void Fp16File_LoadsWithinHalfPrecision()
    {
        string path = Variant(t => { foreach (string k in t.Keys.ToList()) { var old = t[k]; t[k] = old.to(ScalarType.Float16); old.Dispose(); } });
        var folder = PipelineFolder.Load(Folder);
        var single = SingleFileCheckpoint.Load(path, Folder);
        try
        {
            AssertSameStateDict(folder.UNet, single.UNet, 2e-3);
            AssertSameStateDict(folder.Vae, single.Vae, 2e-3);
        }
        finally
        {
            foreach (var m in new nn.Module[] { folder.UNet, folder.Vae, folder.TextEncoder, single.UNet, single.Vae, single.TextEncoder }) m.Dispose();
        }
    }

    [Fact]
    public void EmaAndScheduleBuffers_AreIgnored()
    {
        string path = Variant(t =>
        {
            t["model_ema.diffusion_modelinput_blocks00weight"] = zeros(2);
            t["model_ema.decay"] = zeros(1);
            t["alphas_cumprod"] = zeros(1000);
            t["cond_stage_model.transformer.text_model.embeddings.position_ids"] = zeros(1, 77, ScalarType.Int64);
        });
        var c = SingleFileCheckpoint.Load(path, Folder);
        c.UNet.Dispose(); c.Vae.Dispose(); c.TextEncoder.Dispose();
    }

    [Fact]
    public void UnmatchedKey_IsAnError_ListingIt()
    {
        string path = Variant(t => t["model.diffusion_model.not_a_block.weight"] = zeros(2));
        var e = Assert.Throws<InvalidDataException>(() => SingleFileCheckpoint.Load(path, Folder));
        Assert.Contains("model.diffusion_model.not_a_block.weight", e.Message);
    }

    [Fact]
    public void MisShapedWeight_IsAnError_NamingTheModuleAndKey()
    {
        using var scope = NewDisposeScope();
        string path = Variant(t => { t["first_stage_model.decoder.conv_in.bias"].Dispose(); t["first_stage_model.decoder.conv_in.bias"] = zeros(7); });
        var e = Assert.Throws<InvalidDataException>(() => SingleFileCheckpoint.Load(path, Folder));
        Assert.Contains("AutoencoderKL", e.Message);
        Assert.Contains("decoder.conv_in.bias", e.Message);
    }

    [Theory]
    [InlineData("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight", "Stable Diffusion 2.x")]
    [InlineData("conditioner.embedders.0.transformer.text_model.embeddings.position_ids", "SDXL")]
    [InlineData("lora_unet_down_blocks_0_attentions_0_proj_in.alpha", "LoRA")]
    public void OtherFamilies_AreRefusedInOneLine_NamingTheKey(string key, string family)
    {
        string path = Variant(t => t[key] = zeros(2));
        var e = Assert.Throws<NotSupportedException>(() => StableDiffusionPipeline.Load(path, new PipelineOptions { ConfigDirectory = Folder }));
        Assert.Contains(key, e.Message);
        Assert.Contains(family, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void InpaintingUNet_IsRefused_NamingConvIn()
    {
        const string key = "model.diffusion_model.input_blocks.0.0.weight";
        string path = Variant(t => { var w = t[key]; t[key] = zeros(w.shape[0], 9, w.shape[2], w.shape[3]); w.Dispose(); });
        var e = Assert.Throws<NotSupportedException>(() => SingleFileCheckpoint.Load(path, Folder));
        Assert.Contains(key, e.Message);
        Assert.Contains("inpainting", e.Message);
    }

    [Fact]
    public void VaeOnlyFile_IsRefused()
    {
        using var scope = NewDisposeScope();
        string path = Variant(t =>
        {
            foreach (string k in t.Keys.Where(k => !k.StartsWith("first_stage_model.")).ToList()) { t[k].Dispose(); t.Remove(k); }
        });
        var e = Assert.Throws<NotSupportedException>(() => SingleFileCheckpoint.Load(path, Folder));
        Assert.Contains("VAE-only", e.Message);
        Assert.Contains("first_stage_model.", e.Message);
    }

    [Fact]
    public void CorruptCkpt_IsAClearError_NamingTheFile()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "model.ckpt");
        File.WriteAllBytes(path, [0x50, 0x4b]);
        var e = Assert.Throws<PickleFormatException>(() => StableDiffusionPipeline.Load(path, new PipelineOptions { ConfigDirectory = Folder }));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void NoConfigFolder_NamesTheMissingTokenizer()
    {
        var e = Assert.Throws<FileNotFoundException>(() => StableDiffusionPipeline.Load(File1));
        Assert.Contains("tokenizer", e.Message);
    }

    [Fact]
    public void Architecture_IsInferredFromTheKeys()
    {
        TestEnvironment.Init();
        using var file = CheckpointTensors.Open(File1);
        SingleFileConfigs c = SingleFileArchitecture.Infer(file.Shapes, File1);
        var folder = PipelineFolder.Load(Folder);
        try
        {
            var u = folder.UNet.Config;
            Assert.Equal(u.BlockOutChannels, c.UNet.BlockOutChannels);
            Assert.Equal(u.LayersPerBlock, c.UNet.LayersPerBlock);
            Assert.Equal(u.DownBlockTypes, c.UNet.DownBlockTypes);
            Assert.Equal(u.UpBlockTypes, c.UNet.UpBlockTypes);
            Assert.Equal(u.CrossAttentionDim, c.UNet.CrossAttentionDim);
            Assert.Equal((u.InChannels, u.OutChannels, u.UseLinearProjection), (c.UNet.InChannels, c.UNet.OutChannels, c.UNet.UseLinearProjection));
            var v = folder.Vae.Config;
            Assert.Equal(v.BlockOutChannels, c.Vae.BlockOutChannels);
            Assert.Equal((v.LayersPerBlock, v.LatentChannels, v.InChannels, v.OutChannels), (c.Vae.LayersPerBlock, c.Vae.LatentChannels, c.Vae.InChannels, c.Vae.OutChannels));
            var t = folder.TextEncoder.Config;
            Assert.Equal((t.VocabSize, t.HiddenSize, t.IntermediateSize, t.NumHiddenLayers, t.MaxPositionEmbeddings),
                (c.TextEncoder.VocabSize, c.TextEncoder.HiddenSize, c.TextEncoder.IntermediateSize, c.TextEncoder.NumHiddenLayers, c.TextEncoder.MaxPositionEmbeddings));
        }
        finally { folder.UNet.Dispose(); folder.Vae.Dispose(); folder.TextEncoder.Dispose(); }
    }

    [Fact]
    public void KeyMap_RoundTripsEveryKeyOfTheFile()
    {
        TestEnvironment.Init();
        using var file = CheckpointTensors.Open(File1);
        var map = new LdmKeyMap(SingleFileArchitecture.Infer(file.Shapes, File1).Layout);
        foreach (string key in file.Shapes.Keys)
        {
            MappedKey ours = map.ToOurs(key) ?? throw new Xunit.Sdk.XunitException($"no rule for {key}");
            var back = map.ToLdm(ours.Component, ours.Key);
            Assert.Equal(key, back?.LdmKey);
            Assert.Equal(ours.SqueezeConv, back?.UnsqueezeConv);
        }
    }
}
