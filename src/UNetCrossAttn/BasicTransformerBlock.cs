using Latent.Core.Engine;
using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>BasicTransformerBlock</c> (norm_type "layer_norm", GEGLU feed-forward, no attention bias): pre-norm
/// self-attention, cross-attention to the text, and a feed-forward, each added to the residual stream.
/// </summary>
/// <remarks>
/// x = attn1(norm1(x)) + x; x = attn2(norm2(x), context) + x; x = ff(norm3(x)) + x. With onlyCrossAttention the first
/// attention also attends to the context. Keys: <c>norm1</c>, <c>attn1</c>, <c>norm2</c>, <c>attn2</c>, <c>norm3</c>,
/// <c>ff</c> (LayerNorms with PyTorch's eps 1e-5).
/// </remarks>
public sealed class BasicTransformerBlock : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly Attention attn1;
    private readonly LayerNorm norm2;
    private readonly Attention attn2;
    private readonly LayerNorm norm3;
    private readonly FeedForward ff;
    private readonly bool onlyCrossAttention;

    /// <summary>Creates the block.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="dim">Width C of the token stream (heads * headDim).</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="headDim">Width of one head.</param>
    /// <param name="crossAttentionDim">Width D of the context.</param>
    /// <param name="onlyCrossAttention">Whether attn1 attends to the context too (diffusers' only_cross_attention).</param>
    /// <param name="upcastAttention">Softmax in float32 for half-precision modules (diffusers' upcast_attention).</param>
    public BasicTransformerBlock(string name, long dim, int heads, long headDim, long crossAttentionDim,
        bool onlyCrossAttention = false, bool upcastAttention = false) : base(name)
    {
        this.onlyCrossAttention = onlyCrossAttention;
        norm1 = nn.LayerNorm(dim);
        attn1 = new Attention("attn1", dim, onlyCrossAttention ? crossAttentionDim : null, heads, headDim, upcastAttention: upcastAttention);
        norm2 = nn.LayerNorm(dim);
        attn2 = new Attention("attn2", dim, crossAttentionDim, heads, headDim, upcastAttention: upcastAttention);
        norm3 = nn.LayerNorm(dim);
        ff = new FeedForward("ff", dim);
        RegisterComponents();
    }

    /// <summary>Applies the block.</summary>
    /// <param name="x">[B, N, C] tokens (N = H * W positions).</param>
    /// <param name="context">[B, T, D] text states.</param>
    /// <returns>[B, N, C].</returns>
    public override Tensor forward(Tensor x, Tensor context) => Forward(x, context, null);

    /// <summary>As <see cref="forward"/>, with per-generation attention precomputations.</summary>
    /// <param name="x">[B, N, C] tokens.</param>
    /// <param name="context">[B, T, D] text states.</param>
    /// <param name="cache">Per-generation attention precomputations (text keys and values, fused q/k/v), or null.</param>
    /// <returns>[B, N, C].</returns>
    public Tensor Forward(Tensor x, Tensor context, AttentionCache? cache)
    {
        // x: [B, N, C], context: [B, T, D] -> [B, N, C]
        using var scope = NewDisposeScope();
        x = attn1.Forward(norm1.forward(x), onlyCrossAttention ? context : null, cache).add(x, Scalars.One);
        x = attn2.Forward(norm2.forward(x), context, cache).add(x, Scalars.One);
        x = ff.forward(norm3.forward(x)).add(x, Scalars.One);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "mid_block.attentions.0.transformer_blocks.0".</param>
    /// <param name="x">[B, N, C].</param>
    /// <param name="context">[B, T, D].</param>
    /// <returns>[B, N, C].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x, string context)
    {
        // x: [B, N, C], context: [B, T, D] -> [B, N, C]
        x = g.Node("Add", [attn1.ExportOnnx(g, $"{key}.attn1", g.LayerNorm($"{key}.norm1", norm1, x), onlyCrossAttention ? context : null), x]);
        x = g.Node("Add", [attn2.ExportOnnx(g, $"{key}.attn2", g.LayerNorm($"{key}.norm2", norm2, x), context), x]);
        return g.Node("Add", [ff.ExportOnnx(g, $"{key}.ff", g.LayerNorm($"{key}.norm3", norm3, x)), x]);
    }
}
