using Latent.Core.Engine;
using Latent.Core.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Nn;

/// <summary>The per-generation attention cache: cached text keys/values and fused q/k/v give the uncached outputs.</summary>
public class AttentionCacheTests
{
    static void Randomise(nn.Module module, ulong seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var g = new Generator(seed);
        foreach (var (_, p) in module.named_parameters())
            p.copy_(randn(p.shape, generator: g) * Scalars.Of(0.3));
    }

    static float MaxDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a - b).abs().max().item<float>();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CrossAttention_CachedKeyValues_EqualProjectedOnes(bool fusedKernel)
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, crossAttentionDim: 12, heads: 2, dimHead: 8);
        Randomise(attn, 1);
        var g = new Generator(2);
        var x = randn([2, 9, 16], generator: g);
        var context = randn([2, 7, 12], generator: g);
        using var cache = AttentionCache.Build([attn], context);
        Assert.Equal(1, cache.KeyValueCount);
        Assert.Equal(0, cache.FusedCount);
        using var noGrad = no_grad();
        var expected = attn.Forward(x, context, fusedKernel);
        var actual = attn.Forward(x, context, fusedKernel, cache);
        Assert.True(MaxDiff(expected, actual) == 0, $"cached keys/values differ by {MaxDiff(expected, actual):E2}");
    }

    [Theory]
    [InlineData(false, 9)]      // the U-Net's form, manual kernel (9 keys)
    [InlineData(false, 300)]    // fused kernel from 256 keys on
    [InlineData(true, 16)]      // the VAE's form: biases, group norm, residual, on a feature map
    public void SelfAttention_FusedProjection_EqualsThreeProjections(bool vaeForm, long positions)
    {
        using var scope = NewDisposeScope();
        using var attn = vaeForm
            ? new Attention("a", 16, heads: 1, dimHead: 16, bias: true, normGroups: 4, residualConnection: true, rescaleOutputFactor: 2)
            : new Attention("a", 16, heads: 2, dimHead: 8);
        Randomise(attn, 3);
        var g = new Generator(4);
        var x = vaeForm ? randn([2, 16, 4, positions / 4], generator: g) : randn([2, positions, 16], generator: g);
        var context = randn([2, 7, 16], generator: g);   // unused by self-attention; the cache only needs states
        using var cache = AttentionCache.Build([attn], context);
        Assert.Equal(1, cache.FusedCount);
        using var noGrad = no_grad();
        var expected = attn.forward(x, null);
        var actual = attn.Forward(x, null, cache);
        Assert.True(MaxDiff(expected, actual) < 1e-5f, $"fused q/k/v differ by {MaxDiff(expected, actual):E2}");
    }

    [Fact]
    public void Forward_WithOtherTextStates_ThrowsRatherThanUseStaleKeys()
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, crossAttentionDim: 12, heads: 2, dimHead: 8);
        var built = randn(1, 7, 12);
        var other = randn(1, 7, 12);
        using var cache = AttentionCache.Build([attn], built);
        var e = Assert.Throws<ArgumentException>(() => attn.Forward(randn(1, 4, 16), other, cache));
        Assert.Contains("other text states", e.Message);
    }

    [Fact]
    public void Forward_WithDisposedCache_Throws()
    {
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, crossAttentionDim: 12, heads: 2, dimHead: 8);
        var context = randn(1, 7, 12);
        var cache = AttentionCache.Build([attn], context);
        cache.Dispose();
        Assert.Throws<ObjectDisposedException>(() => attn.Forward(randn(1, 4, 16), context, cache));
    }

    [Fact]
    public void Build_SeesWeightChangesMadeBeforeIt()
    {
        // The fused weights are taken when the cache is built (per generation), so an in-place change before that (a LoRA,
        // a training step) is used; a load-time copy would have gone stale.
        using var scope = NewDisposeScope();
        using var attn = new Attention("a", 16, heads: 2, dimHead: 8);
        Randomise(attn, 5);
        var x = randn(1, 5, 16);
        Randomise(attn, 6);
        using var cache = AttentionCache.Build([attn], randn(1, 3, 16));
        using var noGrad = no_grad();
        Assert.True(MaxDiff(attn.forward(x, null), attn.Forward(x, null, cache)) < 1e-5f);
    }
}
