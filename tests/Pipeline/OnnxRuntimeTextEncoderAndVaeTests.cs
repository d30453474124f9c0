using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.TextEncoder;
using Latent.Vae;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

/// <summary>The text encoder's and the VAE's ONNX exports run by ONNX Runtime against LibTorch and diffusers' reference outputs.</summary>
public class OnnxRuntimeTextEncoderAndVaeTests(ITestOutputHelper output)
{
    const float Tolerance = 1e-4f;

    static void Perturb(nn.Module module, long seed)
    {
        // Every parameter perturbed, so that a mis-wired weight (a norm's 1 and 0 included) changes the output.
        manual_seed(seed);
        using var noGrad = no_grad();
        foreach (var p in module.parameters())
        {
            using var scope = NewDisposeScope();
            p.add_(randn_like(p) * Scalars.Of(0.1), Scalars.One);
        }
        module.eval();
    }

    float Report(string what, Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(expected.shape, actual.shape);
        float diff = (expected - actual).abs().max().item<float>();
        output.WriteLine($"{what}: max abs diff {diff:E2} (output scale {expected.abs().max().item<float>():F2})");
        return diff;
    }

    [Theory]
    [InlineData(ClipActivation.QuickGelu)]
    [InlineData(ClipActivation.Gelu)]
    public void TextEncoder_MatchesLibTorch_AtAnyLength(ClipActivation activation)
    {
        using var scope = NewDisposeScope();
        using var model = new ClipTextModel(ClipTextConfig.Tiny with { HiddenAct = activation });
        Perturb(model, 1);
        using var onnx = new OnnxRuntimeTextEncoder(model);
        var g = new Generator(2);
        foreach (var (b, t) in new[] { (2L, (long)ClipTextConfig.Tiny.MaxPositionEmbeddings), (1L, 5L) })
        {
            var ids = randint(ClipTextConfig.Tiny.VocabSize, [b, t], generator: g);
            Tensor expected;
            using (no_grad()) expected = model.forward(ids);
            Assert.True(Report($"{activation} [{b}, {t}]", expected, onnx.Forward(ids)) < Tolerance);
        }
    }

    [Fact]
    public void TextEncoder_ParityModel_ReproducesTransformersOutput()
    {
        using var scope = NewDisposeScope();
        using var model = ClipTextModel.FromPretrained(Path.Combine(TestEnvironment.Parity, "text_encoder"));
        var v = SafeTensors.Load(Path.Combine(TestEnvironment.Parity, "vectors", "text_encoder.safetensors"));
        using var onnx = new OnnxRuntimeTextEncoder(model);
        Assert.True(Report("parity last_hidden_state", v["last_hidden_state"], onnx.Forward(v["input_ids"])) < Tolerance);
        foreach (var t in v.Values) t.Dispose();
    }

    [Fact]
    public void TextEncoder_IdOutsideTheVocabulary_ThrowsAsLibTorchDoes()
    {
        using var model = new ClipTextModel(ClipTextConfig.Tiny);
        using var onnx = new OnnxRuntimeTextEncoder(model);
        using var vocab = ClipTextConfig.Tiny.VocabSize.ToScalar();
        using var ids = full(1, 4, vocab, ScalarType.Int64);
        var e = Assert.Throws<ArgumentException>(() => onnx.Forward(ids));
        Assert.Contains("vocab_size", e.Message);
    }

    [Fact]
    public void Vae_DecodeAndEncode_MatchLibTorch()
    {
        using var scope = NewDisposeScope();
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        Perturb(vae, 3);
        using var onnx = new OnnxRuntimeVae(vae);
        var g = new Generator(4);
        int f = VaeConfig.Tiny.DownsampleFactor;
        var z = randn([2, VaeConfig.Tiny.LatentChannels, 6, 4], generator: g);
        var x = randn([1, 3, 4 * f, 2 * f], generator: g);
        using var noGrad = no_grad();
        Assert.True(Report("decode", vae.Decode(z), onnx.Decode(z)) < Tolerance);
        using var expected = vae.Encode(x);
        using var actual = onnx.Encode(x);
        Assert.True(Report("encode moments", expected.Parameters, actual.Parameters) < Tolerance);
    }

    [Fact]
    public void Vae_ParityModel_ReproducesDiffusersOutput()
    {
        using var scope = NewDisposeScope();
        using var vae = AutoencoderKL.FromPretrained(Path.Combine(TestEnvironment.Parity, "vae"));
        var v = SafeTensors.Load(Path.Combine(TestEnvironment.Parity, "vectors", "vae.safetensors"));
        using var onnx = new OnnxRuntimeVae(vae);
        Assert.True(Report("parity decoded", v["decoded"], onnx.Decode(v["mean"])) < Tolerance);
        using var posterior = onnx.Encode(v["x"]);
        Assert.True(Report("parity moments", v["moments"], posterior.Parameters) < Tolerance);
        foreach (var t in v.Values) t.Dispose();
    }

    [Fact]
    public void Vae_WrongLatentChannels_ThrowsNamingTheShape()
    {
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var onnx = new OnnxRuntimeVae(vae);
        using var z = randn(1, VaeConfig.Tiny.LatentChannels + 1, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => onnx.Decode(z));
        Assert.Contains($"[1, {VaeConfig.Tiny.LatentChannels + 1}, 4, 4]", e.Message);
    }
}
