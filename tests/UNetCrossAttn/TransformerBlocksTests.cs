using Latent.Core.Engine;
using Latent.UNetCrossAttn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn.Tests;

public class TransformerBlocksTests
{
    private static void Randomise(nn.Module module, ulong seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var g = new Generator(seed);
        foreach (var (_, p) in module.named_parameters())
            p.copy_(randn(p.shape, generator: g) * Scalars.Of(0.2));
    }

    [Fact]
    public void GEGLU_MultipliesFirstHalfByGeluOfSecond()
    {
        using var scope = NewDisposeScope();
        using var geglu = new GEGLU("g", 3, 2);
        Randomise(geglu, 1);
        var x = randn(2, 5, 3, generator: new Generator(2));
        var sd = geglu.state_dict();
        var p = nn.functional.linear(x, sd["proj.weight"], sd["proj.bias"]); // [2, 5, 4]
        var h = p[.., .., ..2];
        var gate = p[.., .., 2..];
        // GELU with erf, not tanh: gate * 0.5 * (1 + erf(gate / sqrt(2)))
        var exact = gate * Scalars.Of(0.5) * special.erf(gate / Scalars.Of(Math.Sqrt(2))).add(Scalars.Of(1), Scalars.One);
        Assert.True((geglu.forward(x) - h * exact).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void FeedForward_KeysAreNet0ProjAndNet2()
    {
        using var scope = NewDisposeScope();
        using var ff = new FeedForward("ff", 8);
        Assert.Equal(new[] { "net.0.proj.bias", "net.0.proj.weight", "net.2.bias", "net.2.weight" },
            ff.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray());
        Assert.Equal(new long[] { 64, 8 }, ff.state_dict()["net.0.proj.weight"].shape);
    }

    [Fact]
    public void Transformer2DModel_LinearAndConvProjectionsAgreeForEqualWeights()
    {
        using var scope = NewDisposeScope();
        using var conv = new Transformer2DModel("t", 2, 8, 16, 1, 12, 4, useLinearProjection: false);
        using var linear = new Transformer2DModel("t", 2, 8, 16, 1, 12, 4, useLinearProjection: true);
        Randomise(conv, 3);
        // A 1x1 conv weight [out, in, 1, 1] is the Linear weight [out, in].
        var sd = conv.state_dict().ToDictionary(kv => kv.Key,
            kv => kv.Key is "proj_in.weight" or "proj_out.weight" ? kv.Value.flatten(1) : kv.Value);
        linear.load_state_dict(sd);
        var x = randn(2, 16, 3, 4, generator: new Generator(4));
        var ctx = randn(2, 5, 12, generator: new Generator(5));
        var y = conv.call(x, ctx);
        Assert.Equal(x.shape, y.shape);
        Assert.True((y - linear.call(x, ctx)).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void BasicTransformerBlock_OnlyCrossAttentionMakesAttn1ReadTheContext()
    {
        using var scope = NewDisposeScope();
        using var block = new BasicTransformerBlock("b", 16, 2, 8, 12, onlyCrossAttention: true);
        Assert.Equal(new long[] { 16, 12 }, block.state_dict()["attn1.to_k.weight"].shape);
        using var plain = new BasicTransformerBlock("b", 16, 2, 8, 12);
        Assert.Equal(new long[] { 16, 16 }, plain.state_dict()["attn1.to_k.weight"].shape);
    }
}
