using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>
/// transformers' <c>CLIPAttention</c>: multi-head self-attention with separate q/k/v/out projections (all with bias).
/// </summary>
/// <remarks>
/// <c>Attention(Q, K, V) = softmax(Q K^T / sqrt(Dh) + M) V</c> per head, where M is the causal mask (-inf above the
/// diagonal) for the text encoder, or zero when built with <c>causal: false</c> (bidirectional). Computed with
/// <c>scaled_dot_product_attention</c>, which equals transformers' eager path within float32 rounding. State-dict keys:
/// <c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c> (each <c>.weight</c> [D, D] and <c>.bias</c> [D]).
/// </remarks>
public sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear q_proj;
    private readonly Linear out_proj;
    private readonly int heads;
    private readonly double dropout;
    private readonly bool causal;

    /// <summary>Creates the attention with transformers' initialisation (normal weights, zero biases).</summary>
    /// <param name="config">A validated config.</param>
    /// <param name="causal">Whether token t may attend only to tokens ≤ t (the text encoder) or to all (other uses).</param>
    public ClipAttention(ClipTextConfig config, bool causal = true) : base(nameof(ClipAttention))
    {
        long d = config.HiddenSize;
        k_proj = nn.Linear(d, d);
        v_proj = nn.Linear(d, d);
        q_proj = nn.Linear(d, d);
        out_proj = nn.Linear(d, d);
        heads = config.NumAttentionHeads;
        dropout = config.AttentionDropout;
        this.causal = causal;

        // transformers' CLIPPreTrainedModel._init_weights for CLIPAttention.
        double factor = config.InitializerFactor;
        double inStd = Math.Pow(d, -0.5) * Math.Pow(2.0 * config.NumHiddenLayers, -0.5) * factor;
        double outStd = Math.Pow(d, -0.5) * factor;
        using (no_grad())
        {
            foreach (var (layer, std) in new[] { (q_proj, inStd), (k_proj, inStd), (v_proj, inStd), (out_proj, outStd) })
            {
                layer.weight!.normal_(0.0, std);
                layer.bias!.zero_();
            }
        }
        RegisterComponents();
    }

    /// <summary>Attends over the sequence.</summary>
    /// <param name="x">[B, T, D].</param>
    /// <returns>[B, T, D].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, T, D] -> [B, T, D]
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        long dh = d / heads;
        // [B, T, D] -> [B, T, heads, Dh] -> [B, heads, T, Dh]
        var q = q_proj.forward(x).view(b, t, heads, dh).transpose(1, 2);
        var k = k_proj.forward(x).view(b, t, heads, dh).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, heads, dh).transpose(1, 2);
        double p = training ? dropout : 0.0;
        var h = nn.functional.scaled_dot_product_attention(q, k, v, p: p, is_casual: causal); // [B, heads, T, Dh]
        // [B, heads, T, Dh] -> [B, T, heads, Dh] -> [B, T, D]
        h = h.transpose(1, 2).reshape(b, t, d);
        return out_proj.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>Writes this module's forward (eval mode) into an ONNX graph: one MatMul for q/k/v on the stacked weights,
    /// softmax(Q K^T / sqrt(Dh) + M) V with M the causal mask (a constant sliced to T x T), out_proj.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "text_model.encoder.layers.0.self_attn".</param>
    /// <param name="x">[B, T, D].</param>
    /// <param name="maxPositions">The longest sequence (max_position_embeddings): the size of the stored mask.</param>
    /// <returns>[B, T, D].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x, int maxPositions)
    {
        // x: [B, T, D] -> [B, T, 3D] -> q: [B, heads, T, Dh], k: [B, heads, Dh, T], v: [B, heads, T, Dh]
        long d = q_proj.weight!.shape[0], dh = d / heads;
        string qkv;
        using (NewDisposeScope())
            qkv = g.Linear($"{key}.qkv_proj", cat([q_proj.weight!, k_proj.weight!, v_proj.weight!]), cat([q_proj.bias!, k_proj.bias!, v_proj.bias!]), x);
        string split = g.Ints("shape_heads", 0, 0, heads, dh);
        string Part(int i, params long[] perm) =>
            g.Node("Transpose", [g.Node("Reshape", [g.Node("Slice", [qkv, g.Ints("start", i * d), g.Ints("end", (i + 1) * d), g.Ints("axis_last", -1)]), split])],
                OnnxAttribute.Ints("perm", perm));
        string q = Part(0, 0, 2, 1, 3), k = Part(1, 0, 2, 3, 1), v = Part(2, 0, 2, 1, 3);
        // [B, heads, T, T] scores (+ the causal mask: -inf above the diagonal) -> probabilities -> [B, heads, T, Dh]
        string scores = g.Node("Mul", [g.Node("MatMul", [q, k]), g.Scalar("attention_scale", 1.0 / Math.Sqrt(dh))]);
        if (causal)
        {
            var mask = new float[maxPositions * maxPositions];
            for (int i = 0; i < maxPositions; i++)
                for (int j = i + 1; j < maxPositions; j++) mask[i * maxPositions + j] = float.NegativeInfinity;
            string length = g.Node("Shape", [x], OnnxAttribute.Int("start", 1), OnnxAttribute.Int("end", 2));
            string ends = g.Node("Concat", [length, length], OnnxAttribute.Int("axis", 0));
            string m = g.Node("Slice", [g.Constant("causal_mask", mask, [maxPositions, maxPositions]), g.Ints("zeros2", 0, 0), ends, g.Ints("axes01", 0, 1)]);
            scores = g.Node("Add", [scores, m]);
        }
        string o = g.Node("MatMul", [g.Node("Softmax", [scores], OnnxAttribute.Int("axis", -1)), v]);
        // [B, heads, T, Dh] -> [B, T, heads, Dh] -> [B, T, D]
        o = g.Node("Reshape", [g.Node("Transpose", [o], OnnxAttribute.Ints("perm", 0, 2, 1, 3)), g.Ints("shape_merge_heads", 0, 0, d)]);
        return g.Linear($"{key}.out_proj", out_proj, o);
    }
}
