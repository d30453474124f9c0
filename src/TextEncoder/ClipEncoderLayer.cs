using Latent.Core.Onnx;
using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>transformers' <c>CLIPEncoderLayer</c>: a pre-LayerNorm transformer block.</summary>
/// <remarks>
/// <c>h = x + self_attn(layer_norm1(x))</c>; <c>out = h + mlp(layer_norm2(h))</c>. State-dict keys: <c>self_attn.*</c>,
/// <c>layer_norm1</c>, <c>mlp.*</c>, <c>layer_norm2</c>.
/// </remarks>
public sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly ClipAttention self_attn;
    private readonly LayerNorm layer_norm1;
    private readonly ClipMlp mlp;
    private readonly LayerNorm layer_norm2;

    /// <summary>Creates the layer; LayerNorms start at weight 1, bias 0.</summary>
    /// <param name="config">A validated config.</param>
    /// <param name="causal">Whether the self-attention is causal (the text encoder) or bidirectional.</param>
    public ClipEncoderLayer(ClipTextConfig config, bool causal = true) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(config, causal);
        layer_norm1 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        mlp = new ClipMlp(config);
        layer_norm2 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>Applies the block.</summary>
    /// <param name="x">[B, T, D].</param>
    /// <returns>[B, T, D].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, T, D] -> [B, T, D]
        using var scope = NewDisposeScope();
        var h = x.add(self_attn.forward(layer_norm1.forward(x)), Scalars.One);
        var output = h.add(mlp.forward(layer_norm2.forward(h)), Scalars.One);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "text_model.encoder.layers.0".</param>
    /// <param name="x">[B, T, D].</param>
    /// <param name="maxPositions">max_position_embeddings (the causal mask's size).</param>
    /// <returns>[B, T, D].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x, int maxPositions)
    {
        string h = g.Node("Add", [x, self_attn.ExportOnnx(g, $"{key}.self_attn", g.LayerNorm($"{key}.layer_norm1", layer_norm1, x), maxPositions)]);
        return g.Node("Add", [h, mlp.ExportOnnx(g, $"{key}.mlp", g.LayerNorm($"{key}.layer_norm2", layer_norm2, h))]);
    }
}
