using Latent.Core.Engine;
using Latent.Core.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Nn;

public class AttentionTests
{
    private static string[] Keys(nn.Module module) => module.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();

    private static float MaxDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a - b).abs().max().item<float>();
    }

    /// <summary>Sets every parameter to seeded noise so that biases and norms do not vanish.</summary>
    private static void Randomise(nn.Module module, ulong seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var g = new Generator(seed);
        foreach (var (_, p) in module.named_parameters())
            p.copy_(randn(p.shape, generator: g) * Scalars.Of(0.3));
    }

    /// <summary>Hand-written multi-head attention with the module's weights: no fused kernel, per-head loop.</summary>
    private static Tensor Reference(Attention attn, Tensor x, Tensor? context, int heads, long dimHead)
    {
        using var scope = NewDisposeScope();
        var sd = attn.state_dict();
        var ctx = context ?? x;
        var q = nn.functional.linear(x, sd["to_q.weight"]);
        var k = nn.functional.linear(ctx, sd["to_k.weight"]);
        var v = nn.functional.linear(ctx, sd["to_v.weight"]);
        using var sqrtDimHead = Math.Sqrt(dimHead).ToScalar();
        var outs = new List<Tensor>();
        for (int h = 0; h < heads; h++)
        {
            var cols = TensorIndex.Slice(h * dimHead, (h + 1) * dimHead);
            var qh = q[TensorIndex.Ellipsis, cols];
            var kh = k[TensorIndex.Ellipsis, cols];
            var vh = v[TensorIndex.Ellipsis, cols];
            var p = (matmul(qh, kh.transpose(1, 2)) / sqrtDimHead).softmax(-1);
            outs.Add(matmul(p, vh));
        }
        return nn.functional.linear(cat(outs, -1), sd["to_out.0.weight"], sd["to_out.0.bias"]).MoveToOuterDisposeScope();
    }

    [Fact]
    public void Keys_AreDiffusersNames()
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, crossAttentionDim: 12, heads: 2, dimHead: 4);
        Assert.Equal(new[] { "to_k.weight", "to_out.0.bias", "to_out.0.weight", "to_q.weight", "to_v.weight" }, Keys(attn));
        var sd = attn.state_dict();
        Assert.Equal(new long[] { 8, 12 }, sd["to_k.weight"].shape);
        Assert.Equal(new long[] { 16, 8 }, sd["to_out.0.weight"].shape);
    }

    [Fact]
    public void Keys_WithNormAndBias_HaveGroupNormAndProjectionBiases()
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, heads: 1, dimHead: 16, bias: true, normGroups: 4);
        Assert.Equal(new[] { "group_norm.bias", "group_norm.weight", "to_k.bias", "to_k.weight", "to_out.0.bias", "to_out.0.weight",
            "to_q.bias", "to_q.weight", "to_v.bias", "to_v.weight" }, Keys(attn));
        Assert.True(attn.state_dict()["group_norm.weight"].eq(Scalars.Of(1)).all().item<bool>(), "group_norm must start at weight 1");
    }

    [Fact]
    public void Forward_SelfAttention3D_MatchesPerHeadReference()
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, heads: 4, dimHead: 8);
        Randomise(attn, 1);
        var x = randn(2, 10, 16, generator: new Generator(2));
        var y = attn.call(x, null);
        Assert.Equal(x.shape, y.shape);
        Assert.True(MaxDiff(y, Reference(attn, x, null, 4, 8)) < 1e-5);
    }

    [Fact]
    public void Forward_CrossAttention_MatchesPerHeadReferenceAndDependsOnContext()
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, crossAttentionDim: 12, heads: 2, dimHead: 8);
        Randomise(attn, 3);
        var x = randn(2, 10, 16, generator: new Generator(4));
        var ctx = randn(2, 7, 12, generator: new Generator(5));
        var y = attn.call(x, ctx);
        Assert.Equal(x.shape, y.shape);
        Assert.True(MaxDiff(y, Reference(attn, x, ctx, 2, 8)) < 1e-5);
        Assert.True(MaxDiff(y, attn.call(x, ctx * Scalars.Of(2))) > 1e-3, "the output must depend on the context");
    }

    [Fact]
    public void Forward_4DInput_EqualsAttentionOverFlattenedPositions()
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 8, heads: 2, dimHead: 4);
        Randomise(attn, 6);
        var x = randn(2, 8, 3, 5, generator: new Generator(7));
        var y = attn.call(x, null);
        Assert.Equal(x.shape, y.shape);
        // [B, C, H, W] -> [B, H*W, C] -> attention -> [B, C, H, W]
        var flat = attn.call(x.reshape(2, 8, 15).transpose(1, 2), null).transpose(1, 2).reshape(2, 8, 3, 5);
        Assert.True(MaxDiff(y, flat) < 1e-6);
    }

    [Fact]
    public void Forward_ResidualAndRescale_AddInputThenDivide()
    {
        using var scope = NewDisposeScope();
        using var plain = new Attention("a", 8, heads: 2, dimHead: 4, bias: true);
        using var wrapped = new Attention("a", 8, heads: 2, dimHead: 4, bias: true, residualConnection: true, rescaleOutputFactor: 2.5);
        Randomise(plain, 8);
        wrapped.load_state_dict(plain.state_dict());
        var x = randn(2, 8, 4, 4, generator: new Generator(9));
        var expected = plain.call(x, null).add(x, Scalars.One) / Scalars.Of(2.5);  // (attention(x) + x) / 2.5
        Assert.True(MaxDiff(wrapped.call(x, null), expected) < 1e-6);
    }

    [Fact]
    public void Forward_GroupNorm_NormalisesInputButResidualUsesRawInput()
    {
        using var scope = NewDisposeScope();
        using var normed = new Attention("a", 8, heads: 1, dimHead: 8, bias: true, normGroups: 2, normEps: 1e-6, residualConnection: true);
        using var plain = new Attention("a", 8, heads: 1, dimHead: 8, bias: true);
        Randomise(normed, 10);
        var sd = normed.state_dict();
        plain.load_state_dict(sd, strict: false);
        var x = (randn(2, 8, 4, 4, generator: new Generator(11)) * Scalars.Of(3)).add(Scalars.Of(1), Scalars.One); // std 3, mean 1
        var xn = nn.functional.group_norm(x, 2, sd["group_norm.weight"], sd["group_norm.bias"], 1e-6);
        Assert.True(MaxDiff(normed.call(x, null), plain.call(xn, null).add(x, Scalars.One)) < 1e-5);
    }

    [Theory]
    [InlineData(256, 0)] // self-attention over 16x16 positions
    [InlineData(64, 77)] // cross-attention to CLIP's 77 tokens
    public void Forward_FusedAndManualKernels_AgreeWithinFloat32Rounding(long positions, long tokens)
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 64, crossAttentionDim: tokens > 0 ? 32 : null, heads: 8, dimHead: 8);
        Randomise(attn, 12);
        var x = randn(2, positions, 64, generator: new Generator(13));
        var ctx = tokens > 0 ? randn(2, tokens, 32, generator: new Generator(14)) : null;
        var fused = attn.Forward(x, ctx, fused: true);
        var manual = attn.Forward(x, ctx, fused: false);
        Assert.True(MaxDiff(fused, manual) < 2e-5, $"fused vs manual differ by {MaxDiff(fused, manual)}");
    }

    [Fact]
    public void Forward_UpcastInBFloat16_ReturnsBFloat16NearFloat32()
    {
        using var scope = NewDisposeScope();
        using var reference = new Attention("a", 64, heads: 2, dimHead: 32);
        using var plain = new Attention("a", 64, heads: 2, dimHead: 32);
        using var upcast = new Attention("a", 64, heads: 2, dimHead: 32, upcastAttention: true);
        Randomise(reference, 15);
        plain.load_state_dict(reference.state_dict());
        upcast.load_state_dict(reference.state_dict());
        plain.to(ScalarType.BFloat16);
        upcast.to(ScalarType.BFloat16);
        var x = randn(2, 64, 64, generator: new Generator(16));
        var expected = reference.call(x, null);
        var xb = x.to(ScalarType.BFloat16);
        var yUp = upcast.call(xb, null);
        Assert.Equal(ScalarType.BFloat16, yUp.dtype);
        float upDiff = MaxDiff(yUp.to(ScalarType.Float32), expected);
        float plainDiff = MaxDiff(plain.call(xb, null).to(ScalarType.Float32), expected);
        float scale = expected.abs().max().item<float>();
        Assert.True(upDiff < 0.03 * scale && plainDiff < 0.03 * scale, $"upcast {upDiff}, plain {plainDiff}, max |y| {scale}");
    }

    [Fact]
    public void UsesFusedKernel_ForLongKeysOnly()
    {
        Assert.True(Attention.UsesFusedKernel(256));
        Assert.False(Attention.UsesFusedKernel(77));
    }

    [Fact]
    public void Forward_ThrowsForWrongChannelCount()
    {
        using var attn = new Attention("a", 16, heads: 2, dimHead: 8);
        using var x = zeros(1, 5, 12);
        var e = Assert.Throws<ArgumentException>(() => attn.call(x, null));
        Assert.Contains("16 channels", e.Message);
        Assert.Contains("[1, 5, 12]", e.Message);
    }

    [Fact]
    public void Forward_ThrowsForWrongContextWidth()
    {
        using var attn = new Attention("a", 16, crossAttentionDim: 12, heads: 2, dimHead: 8);
        using var x = zeros(1, 5, 16);
        using var ctx = zeros(1, 7, 10);
        var e = Assert.Throws<ArgumentException>(() => attn.call(x, ctx));
        Assert.Contains("[1, T, 12]", e.Message);
        Assert.Contains("[1, 7, 10]", e.Message);
    }

    [Fact]
    public void Forward_ThrowsForMissingContextInCrossAttention()
    {
        using var attn = new Attention("a", 16, crossAttentionDim: 12, heads: 2, dimHead: 8);
        using var x = zeros(1, 5, 16);
        var e = Assert.Throws<ArgumentException>(() => attn.call(x, null));
        Assert.Contains("context width 12", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForChannelsNotDivisibleByNormGroups()
    {
        var e = Assert.Throws<ArgumentException>(() => new Attention("a", 12, normGroups: 5));
        Assert.Contains("12 channels", e.Message);
    }
}
