using Latent.Core.Engine;
using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>Transformer2DModel</c> for continuous (feature-map) input: GroupNorm, projection to tokens, a stack of
/// <see cref="BasicTransformerBlock"/>s conditioned on the text, projection back, plus the input (residual).
/// </summary>
/// <remarks>
/// Keys: <c>norm</c> (GroupNorm, eps 1e-6), <c>proj_in</c>, <c>transformer_blocks.{i}</c>, <c>proj_out</c>. The
/// projections are 1x1 convs applied before flattening (SD 1.x) or, with useLinearProjection, Linear layers applied to
/// the tokens (SD 2.x); the two are the same map with different weight shapes.
/// </remarks>
public sealed class Transformer2DModel : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly nn.Module<Tensor, Tensor> proj_in;
    private readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly nn.Module<Tensor, Tensor> proj_out;
    private readonly bool useLinearProjection;

    /// <summary>Creates the model.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="headDim">Width of one head; the token width is heads * headDim.</param>
    /// <param name="inChannels">Channels C of the feature map.</param>
    /// <param name="layers">Number of transformer blocks.</param>
    /// <param name="crossAttentionDim">Width D of the text states.</param>
    /// <param name="normGroups">GroupNorm groups (the U-Net's norm_num_groups).</param>
    /// <param name="useLinearProjection">Linear instead of 1x1-conv projections.</param>
    /// <param name="onlyCrossAttention">Passed to each block.</param>
    /// <param name="upcastAttention">Passed to each block.</param>
    public Transformer2DModel(string name, int heads, long headDim, long inChannels, int layers, long crossAttentionDim,
        int normGroups, bool useLinearProjection, bool onlyCrossAttention = false, bool upcastAttention = false) : base(name)
    {
        long inner = heads * headDim;
        this.useLinearProjection = useLinearProjection;
        norm = Layers.GroupNorm(normGroups, inChannels, 1e-6);
        proj_in = useLinearProjection ? nn.Linear(inChannels, inner) : nn.Conv2d(inChannels, inner, 1);
        transformer_blocks = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(i => new BasicTransformerBlock(i.ToString(), inner, heads, headDim, crossAttentionDim, onlyCrossAttention, upcastAttention))
            .ToArray());
        proj_out = useLinearProjection ? nn.Linear(inner, inChannels) : nn.Conv2d(inner, inChannels, 1);
        RegisterComponents();
    }

    /// <summary>Applies the model.</summary>
    /// <param name="x">[B, C, H, W].</param>
    /// <param name="context">[B, T, D] text states.</param>
    /// <returns>[B, C, H, W].</returns>
    public override Tensor forward(Tensor x, Tensor context) => Forward(x, context, null);

    /// <summary>As <see cref="forward"/>, with per-generation attention precomputations.</summary>
    /// <param name="x">[B, C, H, W].</param>
    /// <param name="context">[B, T, D] text states.</param>
    /// <param name="cache">Per-generation attention precomputations (text keys and values, fused q/k/v), or null.</param>
    /// <returns>[B, C, H, W].</returns>
    public Tensor Forward(Tensor x, Tensor context, AttentionCache? cache)
    {
        // x: [B, C, H, W], context: [B, T, D] -> [B, C, H, W]
        using var scope = NewDisposeScope();
        long b = x.shape[0], h = x.shape[2], w = x.shape[3];
        var hidden = norm.forward(x);
        if (!useLinearProjection) hidden = proj_in.forward(hidden); // [B, C, H, W] -> [B, inner, H, W]
        long inner = hidden.shape[1];
        hidden = hidden.permute(0, 2, 3, 1).reshape(b, h * w, inner); // -> [B, H*W, inner]
        if (useLinearProjection) hidden = proj_in.forward(hidden);
        foreach (var block in transformer_blocks) hidden = block.Forward(hidden, context, cache);
        if (useLinearProjection) hidden = proj_out.forward(hidden);
        hidden = hidden.reshape(b, h, w, hidden.shape[2]).permute(0, 3, 1, 2).contiguous(); // [B, H*W, C'] -> [B, C', H, W]
        if (!useLinearProjection) hidden = proj_out.forward(hidden);
        return hidden.add(x, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "down_blocks.0.attentions.1".</param>
    /// <param name="x">[B, C, H, W].</param>
    /// <param name="context">[B, T, D].</param>
    /// <returns>[B, C, H, W].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x, string context)
    {
        // x: [B, C, H, W], context: [B, T, D] -> [B, C, H, W]
        string hidden = g.GroupNorm($"{key}.norm", norm, x);
        if (!useLinearProjection) hidden = g.Conv($"{key}.proj_in", (Conv2d)proj_in, hidden); // -> [B, inner, H, W]
        // [B, inner, H, W] -> [B, inner, H*W] -> [B, H*W, inner]
        hidden = g.Node("Transpose", [g.Node("Reshape", [hidden, g.Ints("shape_flatten_hw", 0, 0, -1)])], OnnxAttribute.Ints("perm", 0, 2, 1));
        if (useLinearProjection) hidden = g.Linear($"{key}.proj_in", (Linear)proj_in, hidden);
        for (int i = 0; i < transformer_blocks.Count; i++)
            hidden = transformer_blocks[i].ExportOnnx(g, $"{key}.transformer_blocks.{i}", hidden, context);
        if (useLinearProjection) hidden = g.Linear($"{key}.proj_out", (Linear)proj_out, hidden);
        // [B, H*W, C'] -> [B, C', H*W] -> [B, C', H, W] (B and C' copied by the zeros, H and W taken from x)
        string spatial = g.Node("Concat", [g.Ints("shape_keep2", 0, 0), g.Node("Shape", [x], OnnxAttribute.Int("start", 2))], OnnxAttribute.Int("axis", 0));
        hidden = g.Node("Reshape", [g.Node("Transpose", [hidden], OnnxAttribute.Ints("perm", 0, 2, 1)), spatial]);
        if (!useLinearProjection) hidden = g.Conv($"{key}.proj_out", (Conv2d)proj_out, hidden);
        return g.Node("Add", [hidden, x]);
    }
}
