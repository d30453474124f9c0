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
}
