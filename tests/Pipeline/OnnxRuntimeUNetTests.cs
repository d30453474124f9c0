using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.UNetCrossAttn;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

/// <summary>The U-Net's ONNX export run by ONNX Runtime against LibTorch's forward and diffusers' reference outputs.</summary>
public class OnnxRuntimeUNetTests(ITestOutputHelper output)
{
    const float Tolerance = 1e-4f;

    static UNet2DConditionModel RandomUNet(UNetConfig config, long seed)
    {
        // Every parameter perturbed, so that a mis-wired weight (a GroupNorm's 1 and 0 included) changes the output.
        manual_seed(seed);
        var unet = new UNet2DConditionModel(config);
        using (no_grad())
            foreach (var p in unet.parameters())
            {
                using var scope = NewDisposeScope();
                p.add_(randn_like(p) * Scalars.Of(0.1), Scalars.One);
            }
        unet.eval();
        return unet;
    }

    float MaxDiff(UNet2DConditionModel unet, OnnxRuntimeUNet onnx, long batch, long size, long tokens, Tensor timestep)
    {
        using var scope = NewDisposeScope();
        int width = unet.Config.CrossAttentionDim.PerBlock(unet.Config.BlockOutChannels.Length)[0];
        var x = randn(batch, unet.Config.InChannels, size, size);
        var c = randn(batch, tokens, width);
        Tensor expected;
        using (no_grad()) expected = unet.forward(x, timestep, c);
        var actual = onnx.Forward(x, timestep, c);
        Assert.Equal(expected.shape, actual.shape);
        float diff = (actual - expected).abs().max().item<float>();
        output.WriteLine($"batch {batch}, {size}x{size}, {tokens} tokens: max abs diff {diff:E2} (output scale {expected.abs().max().item<float>():F2})");
        return diff;
    }

    public static TheoryData<string> Variants => ["tiny", "linear projection", "only cross attention", "center input, resnet scale 2, sin first, freq shift 1", "downsample padding 0, two transformer layers"];

    static UNetConfig Variant(string name) => name switch
    {
        "tiny" => UNetConfig.Tiny,
        "linear projection" => UNetConfig.Tiny with { UseLinearProjection = true },
        "only cross attention" => UNetConfig.Tiny with { OnlyCrossAttention = true },
        "center input, resnet scale 2, sin first, freq shift 1" => UNetConfig.Tiny with
        {
            CenterInputSample = true, ResnetOutScaleFactor = 2.0, MidBlockScaleFactor = 1.5, FlipSinToCos = false, FreqShift = 1,
        },
        "downsample padding 0, two transformer layers" => UNetConfig.Tiny with { DownsamplePadding = 0, TransformerLayersPerBlock = 2 },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Forward_MatchesLibTorch(string variant)
    {
        using var unet = RandomUNet(Variant(variant), seed: 3);
        using var onnx = new OnnxRuntimeUNet(unet);
        using var t = tensor(new long[] { 10, 980 });
        Assert.True(MaxDiff(unet, onnx, batch: 2, size: 8, tokens: 7, t) < Tolerance);
    }

    [Fact]
    public void Forward_OneSessionServesAnyBatchSizeAndSequence()
    {
        // batch, height, width and sequence are symbolic in the export; a scalar timestep is broadcast like forward's.
        using var unet = RandomUNet(UNetConfig.Tiny, seed: 4);
        using var onnx = new OnnxRuntimeUNet(unet);
        using var t0 = tensor(500L);
        using var tf = tensor(new[] { 999.5f });
        Assert.True(MaxDiff(unet, onnx, batch: 1, size: 8, tokens: 5, t0) < Tolerance);
        Assert.True(MaxDiff(unet, onnx, batch: 3, size: 16, tokens: 9, tf) < Tolerance);
    }

    [Fact]
    public void Forward_ParityUNet_ReproducesDiffusersOutput()
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(Path.Combine(TestEnvironment.Parity, "unet"));
        var v = SafeTensors.Load(Path.Combine(TestEnvironment.Parity, "vectors", "unet.safetensors"));
        using var onnx = new OnnxRuntimeUNet(unet);
        foreach (var (timestep, reference) in new[] { ("timestep", "output"), ("timestep_scalar", "output_scalar_t"), ("timestep_float", "output_float_t") })
        {
            var y = onnx.Forward(v["sample"], v[timestep], v["encoder_hidden_states"]);
            float diff = (y - v[reference]).abs().max().item<float>();
            output.WriteLine($"{reference}: max abs diff {diff:E2}");
            Assert.True(diff < Tolerance, $"{reference} differs from diffusers by {diff:E2} (tolerance {Tolerance:E0})");
        }
        foreach (var t in v.Values) t.Dispose();
    }

    [Fact]
    public void PrepareText_ServesManySteps_MatchingLibTorch()
    {
        using var testScope = NewDisposeScope();
        // The denoising loop's form: the text's keys and values computed once, then several calls on other latents and timesteps.
        using var scope = NewDisposeScope();
        using var unet = RandomUNet(UNetConfig.Tiny with { OnlyCrossAttention = true }, seed: 7);
        using var onnx = new OnnxRuntimeUNet(unet);
        var c = randn(2, 7, 16);
        using var text = onnx.PrepareText(c);
        foreach (long step in new long[] { 900, 500, 20 })
        {
            var x = randn(2, 4, 8, 8);
            using var t = tensor(step);
            Tensor expected;
            using (no_grad()) expected = unet.forward(x, t, c);
            float diff = (onnx.Forward(x, t, text) - expected).abs().max().item<float>();
            Assert.True(diff < Tolerance, $"step at t = {step} differs by {diff:E2}");
        }
        var e = Assert.Throws<ArgumentException>(() => onnx.Forward(randn(3, 4, 8, 8), tensor(1L), text));
        Assert.Contains("[3, T, 16]", e.Message);
    }

    [Fact]
    public void Export_WithTextKeyValueInputs_DeclaresOneKeyAndValuePerCrossAttention()
    {
        using var unet = RandomUNet(UNetConfig.Tiny, seed: 8);
        byte[] model, text;
        using (no_grad()) (model, text) = (unet.ExportOnnx(textKeyValueInputs: true), unet.ExportTextKeyValuesOnnx());
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model);
        using var textSession = new Microsoft.ML.OnnxRuntime.InferenceSession(text);
        int crossAttentions = unet.modules().OfType<Latent.Core.Nn.Attention>().Count(a => a.IsCrossAttention);
        Assert.True(crossAttentions > 0);
        Assert.DoesNotContain("encoder_hidden_states", session.InputMetadata.Keys);
        Assert.Equal(2 + 2 * crossAttentions, session.InputMetadata.Count);
        Assert.Equal(session.InputMetadata.Keys.Skip(2).Order(), textSession.OutputMetadata.Keys.Order());
        Assert.Contains("mid_block.attentions.0.transformer_blocks.0.attn2.key", textSession.OutputMetadata.Keys);
    }

    [Fact]
    public void Forward_WrongContextWidth_ThrowsNamingTheShapes()
    {
        using var unet = RandomUNet(UNetConfig.Tiny, seed: 6);
        using var onnx = new OnnxRuntimeUNet(unet);
        using var x = randn(1, 4, 8, 8);
        using var t = tensor(1L);
        using var c = randn(1, 7, 15);
        var e = Assert.Throws<ArgumentException>(() => onnx.Forward(x, t, c));
        Assert.Contains("[1, T, 16]", e.Message);
        Assert.Contains("[1, 7, 15]", e.Message);
    }

    [Fact]
    public void Export_DeclaresDiffusersInputNames()
    {
        using var unet = RandomUNet(UNetConfig.Tiny, seed: 5);
        byte[] model;
        using (no_grad()) model = unet.ExportOnnx();
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model);
        Assert.Equal(["sample", "timestep", "encoder_hidden_states"], session.InputMetadata.Keys);
        Assert.Equal(["out_sample"], session.OutputMetadata.Keys);
        Assert.Equal([-1, 4, -1, -1], session.InputMetadata["sample"].Dimensions);
    }
}
