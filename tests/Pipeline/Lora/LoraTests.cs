using Latent.Core.IO;
using Latent.Core.Imaging;
using Latent.Pipeline.Lora;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Lora;

/// <summary>The kohya LoRA of ../shared/realformats and the weights it must fuse to at 0.8.</summary>
public class LoraTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static string Real => Path.Combine(TestEnvironment.Fixtures, "realformats");
    static string Folder => Path.Combine(Real, "tiny-sd15");
    static string Kohya => Path.Combine(Real, "lora-kohya.safetensors");
    static string Fused => Path.Combine(Real, "lora-kohya-fused-0.8");

    static readonly GenerationRequest Short = new() { Prompts = ["a photo of a cat"], Steps = 2, Seed = 3, GuidanceScale = 5.0, Width = 64, Height = 64 };

    sealed class Models : IDisposable
    {
        public readonly UNet2DConditionModel UNet;
        public readonly ClipTextModel Text;
        public readonly LoraFuser Fuser;

        public Models()
        {
            TestEnvironment.Init();
            UNet = UNet2DConditionModel.FromPretrained(Path.Combine(Folder, "unet"));
            Text = ClipTextModel.FromPretrained(Path.Combine(Folder, "text_encoder"));
            Fuser = new LoraFuser(new Dictionary<LoraTarget, nn.Module> { [LoraTarget.UNet] = UNet, [LoraTarget.TextEncoder] = Text });
        }

        public void Fuse(string path, double weight)
        {
            var layers = LoraFile.Read(path, Fuser.WeightKeys);
            try { Fuser.Fuse(layers, weight, path); }
            finally { foreach (var l in layers) { l.Down.Dispose(); l.Up.Dispose(); } }
        }

        public void Dispose() { Fuser.Dispose(); UNet.Dispose(); Text.Dispose(); }
    }

    static float MaxDiff(nn.Module module, string safetensors)
    {
        using var scope = NewDisposeScope();
        var expected = SafeTensors.Load(safetensors);
        var actual = module.state_dict();
        float max = 0;
        foreach (var (key, value) in expected)
        {
            using var d = actual[key].sub(value).abs().max();
            max = Math.Max(max, d.item<float>());
            value.Dispose();
        }
        return max;
    }

    static string WriteLora(Dictionary<string, Tensor> tensors)
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "lora.safetensors");
        SafeTensors.Save(path, tensors);
        foreach (var t in tensors.Values) t.Dispose();
        return path;
    }

    [Fact]
    public void Kohya_FusedAt08_GivesTheReferenceWeights()
    {
        using var m = new Models();
        float before = MaxDiff(m.UNet, Path.Combine(Fused, "unet", "diffusion_pytorch_model.safetensors"));
        m.Fuse(Kohya, 0.8);
        Assert.True(before > 1e-4f, $"the reference differs from the base by only {before}");
        float unet = MaxDiff(m.UNet, Path.Combine(Fused, "unet", "diffusion_pytorch_model.safetensors"));
        float text = MaxDiff(m.Text, Path.Combine(Fused, "text_encoder", "model.safetensors"));
        output.WriteLine($"fused at 0.8 vs reference: U-Net max |diff| {unet:G3}, text encoder {text:G3} (base vs reference {before:G3})");
        Assert.True(unet <= 1e-6f, $"U-Net max |diff| {unet}");
        Assert.True(text <= 1e-6f, $"text encoder max |diff| {text}");
    }

    [Fact]
    public void Restore_GivesTheOriginalWeightsBitForBit()
    {
        using var m = new Models();
        m.Fuse(Kohya, 0.8);
        m.Fuse(Kohya, -0.3);
        m.Fuser.Restore();
        Assert.Equal(0f, MaxDiff(m.UNet, Path.Combine(Folder, "unet", "diffusion_pytorch_model.safetensors")));
        Assert.Equal(0f, MaxDiff(m.Text, Path.Combine(Folder, "text_encoder", "model.safetensors")));
        Assert.False(m.Fuser.IsFused);
    }

    [Fact]
    public void PeftFormat_FusesAsKohyaDoes()
    {
        using var m = new Models();
        // kohya name -> PEFT name, from our weight keys; no alpha, so the scale is the weight alone (kohya's is 0.8 * 2 / 4).
        var peftName = m.Fuser.WeightKeys.SelectMany(kv => kv.Value.Select(k => (kv.Key, k)))
            .Where(x => x.k.EndsWith(".weight"))
            .ToDictionary(x => (x.Key == LoraTarget.UNet ? "lora_unet_" : "lora_te_") + x.k[..^7].Replace('.', '_'),
                          x => (x.Key == LoraTarget.UNet ? "unet." : "text_encoder.") + x.k[..^7]);
        var peft = new Dictionary<string, Tensor>();
        foreach (var (key, t) in SafeTensors.Load(Kohya))
        {
            string layer = key[..key.IndexOf('.')];
            if (key.EndsWith(".alpha")) { t.Dispose(); continue; }
            peft[peftName[layer] + (key.EndsWith(".lora_down.weight") ? ".lora_A.weight" : ".lora_B.weight")] = t;
        }
        m.Fuse(WriteLora(peft), 0.4);
        Assert.True(MaxDiff(m.UNet, Path.Combine(Fused, "unet", "diffusion_pytorch_model.safetensors")) <= 1e-6f);
    }

    [Fact]
    public void UnknownAndUnmatchedKeys_AreAnError_ListingThem()
    {
        using var m = new Models();
        string path = WriteLora(new Dictionary<string, Tensor>
        {
            ["lora_unet_no_such_layer.lora_down.weight"] = zeros(4, 16),
            ["lora_unet_no_such_layer.lora_up.weight"] = zeros(16, 4),
            ["something.else"] = zeros(1),
        });
        var e = Assert.Throws<InvalidDataException>(() => LoraFile.Read(path, m.Fuser.WeightKeys));
        Assert.Contains("something.else", e.Message);
        Assert.Contains("lora_unet_no_such_layer.lora_down.weight", e.Message);
    }

    [Fact]
    public void HalfPair_IsAnError()
    {
        using var m = new Models();
        string path = WriteLora(new Dictionary<string, Tensor> { ["lora_unet_conv_in.lora_down.weight"] = zeros(4, 4, 3, 3) });
        var e = Assert.Throws<InvalidDataException>(() => LoraFile.Read(path, m.Fuser.WeightKeys));
        Assert.Contains("conv_in.weight", e.Message);
    }

    [Fact]
    public void MisShapedMatrices_AreAnError_AndChangeNothing()
    {
        using var m = new Models();
        string path = WriteLora(new Dictionary<string, Tensor>
        {
            ["lora_unet_conv_in.lora_down.weight"] = ones(4, 5, 3, 3),
            ["lora_unet_conv_in.lora_up.weight"] = ones(16, 4, 1, 1),
        });
        Assert.Throws<InvalidDataException>(() => m.Fuse(path, 1.0));
        Assert.False(m.Fuser.IsFused);
    }

    [Fact]
    public void Pipeline_ServesCallsWithDifferentLoras_AndNamesThemAsA1111()
    {
        using var scope = NewDisposeScope();
        TestEnvironment.Init();
        using var pipe = StableDiffusionPipeline.Load(Folder);
        using var plain = pipe.Generate(Short);
        pipe.SetLoras([new LoraSpec(Kohya, 0.8)]);
        using var withLora = pipe.Generate(Short);
        pipe.SetLoras([]);
        using var again = pipe.Generate(Short);

        using (var d = withLora.Images.sub(plain.Images).abs().max()) Assert.True(d.item<float>() > 1e-4f);
        using (var d = again.Images.sub(plain.Images).abs().max()) Assert.Equal(0f, d.item<float>());
        Assert.Equal("a photo of a cat <lora:lora-kohya:0.8>", withLora.Parameters[0].Prompt);
        Assert.Equal("a photo of a cat", again.Parameters[0].Prompt);
        Assert.Contains("<lora:lora-kohya:0.8>", withLora.Parameters[0].Format());
        string hash = LoraFile.ShortHash(Kohya);
        Assert.Equal("bcd4f58f887f", hash); // Python: sha256(file[8 + header length:]).hexdigest()[:12]
        Assert.Contains(new KeyValuePair<string, string>("Lora hashes", $"lora-kohya: {hash}"), withLora.Parameters[0].Extras!);
        Assert.Contains($"Lora hashes: \"lora-kohya: {hash}\"", withLora.Parameters[0].Format());
        Assert.DoesNotContain(again.Parameters[0].Extras!, e => e.Key == "Lora hashes");
    }

    [Fact]
    public void Pipeline_MissingLoraFile_LeavesNoLora()
    {
        TestEnvironment.Init();
        using var pipe = StableDiffusionPipeline.Load(Folder);
        pipe.SetLoras([new LoraSpec(Kohya, 0.5)]);
        Assert.Throws<FileNotFoundException>(() => pipe.SetLoras([new LoraSpec(Kohya), new LoraSpec("missing.safetensors")]));
        Assert.Single(pipe.Loras); // nothing changed: files are read before any weight is touched
    }

    [Fact]
    public void OnnxRuntimeUNet_IsExportedAgain_WithTheLora()
    {
        using var scope = NewDisposeScope();
        TestEnvironment.Init();
        using var torchPipe = StableDiffusionPipeline.Load(Folder);
        using var onnxPipe = StableDiffusionPipeline.Load(Folder, new PipelineOptions { Runtime = UNetRuntime.OnnxRuntime });
        torchPipe.SetLoras([new LoraSpec(Kohya, 0.8)]);
        onnxPipe.SetLoras([new LoraSpec(Kohya, 0.8)]);
        using var a = torchPipe.Generate(Short);
        using var b = onnxPipe.Generate(Short);
        using var d = a.Images.sub(b.Images).abs().max();
        Assert.True(d.item<float>() < 1e-4f, $"max |diff| {d.item<float>()}");
    }

    [Theory]
    [InlineData("a.safetensors:0.8", "a.safetensors", 0.8)]
    [InlineData("a.safetensors", "a.safetensors", 1.0)]
    [InlineData(@"C:\loras\a.safetensors", @"C:\loras\a.safetensors", 1.0)]
    [InlineData(@"C:\loras\a.safetensors:-0.5", @"C:\loras\a.safetensors", -0.5)]
    public void Spec_Parses(string text, string path, double weight)
    {
        var spec = LoraSpec.Parse(text);
        Assert.Equal(path, spec.Path);
        Assert.Equal(weight, spec.Weight);
    }
}
