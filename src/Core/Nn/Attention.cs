using Latent.Core.Engine;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Nn;

/// <summary>
/// diffusers' <c>Attention</c> (attention_processor.Attention run by the classic <c>AttnProcessor</c>):
/// multi-head softmax(Q K^T / sqrt(dimHead)) V with the projections <c>to_q</c>, <c>to_k</c>, <c>to_v</c>,
/// <c>to_out.0</c> and an optional <c>group_norm</c> in front, used by the U-Net's transformer blocks (self and
/// cross attention) and by the VAE's mid-block (single head, group norm, residual).
/// </summary>
/// <remarks>
/// <para>Math, for x: [B, N, C] and context: [B, T, D] (context = normed x for self-attention):
/// Q = x W_q, K = context W_k, V = context W_v, split into <c>heads</c> heads of width <c>dimHead</c>;
/// out = concat_h(softmax(Q_h K_h^T / sqrt(dimHead)) V_h) W_out + b_out; then, if <c>residualConnection</c>,
/// out += x (the input before the norm); finally out /= <c>rescaleOutputFactor</c>.</para>
/// <para>Two kernels compute the same attention: libtorch's <c>scaled_dot_product_attention</c> and a manual
/// softmax(Q K^T) V. Which one runs is chosen per call by <see cref="UsesFusedKernel"/> (measured on our 2-core
/// AVX-512 machines; docs in that method). Both agree within float32 rounding.</para>
/// <para>Keys: <c>group_norm</c> (only when <c>normGroups</c> is given), <c>to_q</c>, <c>to_k</c>, <c>to_v</c>,
/// <c>to_out.0</c>. diffusers' <c>to_out.1</c> is a Dropout without weights; it is left out because
/// inference and our training use no attention dropout.</para>
/// </remarks>
public sealed class Attention : nn.Module<Tensor, Tensor?, Tensor>
{
    /// <summary>
    /// From this many keys (T) on, the fused kernel is used; below it, the manual one (measured, see
    /// <see cref="UsesFusedKernel"/>).
    /// </summary>
    public const long FusedKernelMinKeys = 256;

    private readonly GroupNorm? group_norm;
    private readonly Linear to_q;
    private readonly Linear to_k;
    private readonly Linear to_v;
    private readonly ModuleList<Linear> to_out;

    private readonly int heads;
    private readonly long dimHead;
    private readonly long queryDim;
    private readonly long contextDim;
    private readonly bool residualConnection;
    private readonly double rescaleOutputFactor;
    private readonly bool upcastAttention;
    private readonly bool isCrossAttention;

    /// <summary>Builds the block with diffusers' argument names and defaults.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="queryDim">Channels C of the query input x.</param>
    /// <param name="crossAttentionDim">Width D of the context; null means self-attention (D = C).</param>
    /// <param name="heads">Number of heads.</param>
    /// <param name="dimHead">Width of one head; the inner width is heads * dimHead.</param>
    /// <param name="bias">Whether to_q/to_k/to_v have a bias (false in the U-Net, true in the VAE).</param>
    /// <param name="outBias">Whether to_out.0 has a bias.</param>
    /// <param name="normGroups">Groups of the GroupNorm applied to x first; null for none.</param>
    /// <param name="normEps">Epsilon of that GroupNorm.</param>
    /// <param name="residualConnection">Whether the input x is added to the output.</param>
    /// <param name="rescaleOutputFactor">The output is divided by this.</param>
    /// <param name="upcastAttention">
    /// diffusers' <c>upcast_attention</c> (SD 2.1): in a half-precision module, compute Q K^T and the softmax in float32,
    /// then cast the probabilities back (always the manual kernel). No effect in float32.
    /// </param>
    /// <exception cref="ArgumentException">A size is not positive, or C is not divisible by normGroups.</exception>
    public Attention(string name, long queryDim, long? crossAttentionDim = null, int heads = 8, long dimHead = 64,
        bool bias = false, bool outBias = true, int? normGroups = null, double normEps = 1e-5,
        bool residualConnection = false, double rescaleOutputFactor = 1.0, bool upcastAttention = false) : base(name)
    {
        if (queryDim <= 0) throw new ArgumentException($"queryDim must be > 0; got {queryDim}", nameof(queryDim));
        if (crossAttentionDim is <= 0)
            throw new ArgumentException($"crossAttentionDim must be > 0 or null; got {crossAttentionDim}", nameof(crossAttentionDim));
        if (heads <= 0) throw new ArgumentException($"heads must be > 0; got {heads}", nameof(heads));
        if (dimHead <= 0) throw new ArgumentException($"dimHead must be > 0; got {dimHead}", nameof(dimHead));
        if (rescaleOutputFactor == 0)
            throw new ArgumentException("rescaleOutputFactor must be non-zero; got 0", nameof(rescaleOutputFactor));

        this.queryDim = queryDim;
        contextDim = crossAttentionDim ?? queryDim;
        this.heads = heads;
        this.dimHead = dimHead;
        this.residualConnection = residualConnection;
        this.rescaleOutputFactor = rescaleOutputFactor;
        this.upcastAttention = upcastAttention;
        isCrossAttention = crossAttentionDim is not null;
        long inner = heads * dimHead;

        if (normGroups is int groups) group_norm = Layers.GroupNorm(groups, queryDim, normEps, affine: true);
        to_q = nn.Linear(queryDim, inner, hasBias: bias);
        to_k = nn.Linear(contextDim, inner, hasBias: bias);
        to_v = nn.Linear(contextDim, inner, hasBias: bias);
        to_out = nn.ModuleList(nn.Linear(inner, queryDim, hasBias: outBias));
        RegisterComponents();
    }

    /// <summary>Whether a call uses libtorch's fused scaled_dot_product_attention for this many keys.</summary>
    /// <remarks>
    /// The rule: fused when the key length T is at least <see cref="FusedKernelMinKeys"/> (self-attention over 16x16
    /// latents and larger), manual otherwise (cross-attention to CLIP's 77 tokens, self-attention at 8x8 and below).
    /// Measured with TorchSharp 0.107 / libtorch 2.10 on 2 AVX-512 cores, B = 2, medians of 30 calls, ratio =
    /// manual time / fused time: float32 self-attention N = T = 256: 1.1-3.3x (head width 32 down to 8),
    /// N = T = 512: 5.5x, N = T = 1024: 3.6x; N = T = 64 or 128: 0.97-1.06 (even); cross-attention N = 64-256,
    /// T = 32-128: 0.87-1.09 (manual as fast or faster). bfloat16: N = T = 256: 0.7-1.0, N = T = 512: 1.7x,
    /// N = T = 1024: 1.8x. The machine was shared with other builds while measuring, so ratios within ~10% of 1
    /// are noise; the rule only takes the fused kernel where it won clearly. The key length decides because the fused kernel's gain grows with the N x T score matrix it avoids
    /// materialising, and its fixed cost dominates small ones.
    /// </remarks>
    /// <param name="keys">Key/value length T.</param>
    public static bool UsesFusedKernel(long keys) => keys >= FusedKernelMinKeys;

    /// <summary>Whether this block attends to a context given to it (built with a <c>crossAttentionDim</c>), rather than to x itself.</summary>
    public bool IsCrossAttention => isCrossAttention;

    /// <summary>The number of heads.</summary>
    public int Heads => heads;

    /// <summary>The width d of one head.</summary>
    public long HeadDim => dimHead;

    /// <summary>Runs attention from x to the context (or to itself).</summary>
    /// <param name="x">[B, N, C] or [B, C, H, W].</param>
    /// <param name="context">[B, T, D], or null for self-attention.</param>
    /// <returns>Same shape as <paramref name="x"/>.</returns>
    public override Tensor forward(Tensor x, Tensor? context) => Forward(x, context, fused: null);

    /// <summary>As <see cref="forward"/>, reading this block's text keys and values, or its fused q/k/v weights, from <paramref name="cache"/> when it holds them.</summary>
    /// <param name="x">[B, N, C] or [B, C, H, W].</param>
    /// <param name="context">[B, T, D], or null for self-attention; for a cached cross-attention, the states the cache was built from.</param>
    /// <param name="cache">Per-generation precomputations (<see cref="AttentionCache"/>), or null.</param>
    /// <returns>Same shape as <paramref name="x"/>.</returns>
    public Tensor Forward(Tensor x, Tensor? context, AttentionCache? cache) => Forward(x, context, fused: null, cache);

    /// <summary>As <see cref="forward"/>, with the kernel forced (true: fused, false: manual, null: by rule); for tests and benchmarks.</summary>
    /// <param name="x">[B, N, C] or [B, C, H, W].</param>
    /// <param name="context">[B, T, D], or null for self-attention.</param>
    /// <param name="fused">Kernel choice; null applies <see cref="UsesFusedKernel"/>.</param>
    /// <returns>Same shape as <paramref name="x"/>.</returns>
    /// <param name="cache">Per-generation precomputations (<see cref="AttentionCache"/>), or null.</param>
    public Tensor Forward(Tensor x, Tensor? context, bool? fused, AttentionCache? cache = null)
    {
        // x: [B, N, C] or [B, C, H, W], context: [B, T, D] or null -> same shape as x
        bool spatial = x.dim() == 4;
        if (!spatial && x.dim() != 3)
            throw new ArgumentException($"Attention expects x as [B, N, C] or [B, C, H, W]; got shape [{string.Join(", ", x.shape)}]", nameof(x));
        long channelDim = spatial ? x.shape[1] : x.shape[2];
        if (channelDim != queryDim)
            throw new ArgumentException($"Attention expects {queryDim} channels in x; got shape [{string.Join(", ", x.shape)}]", nameof(x));
        if (context is not null && (context.dim() != 3 || context.shape[2] != contextDim || context.shape[0] != x.shape[0]))
            throw new ArgumentException(
                $"Attention expects context as [{x.shape[0]}, T, {contextDim}]; got shape [{string.Join(", ", context.shape)}]", nameof(context));
        if (context is null && contextDim != queryDim)
            throw new ArgumentException($"This is a cross-attention block (context width {contextDim}); context must not be null", nameof(context));

        using var scope = NewDisposeScope();
        long b = x.shape[0];
        // [B, C, H, W] -> [B, C, H*W] -> [B, N, C]
        var h = spatial ? x.reshape(b, x.shape[1], -1).transpose(1, 2) : x;
        if (group_norm is not null)
            h = group_norm.forward(h.transpose(1, 2)).transpose(1, 2); // norm over [B, C, N]

        var ctx = context ?? h;
        long n = h.shape[1], t = ctx.shape[1];
        Tensor q, k, v;
        if (context is null && cache?.FusedProjection(this) is { } fusedWeights)
        {
            // One GEMM: [B, N, C] x [C, 3 heads*d] -> [B, N, 3, heads, d] -> [3, B, heads, N, d] (views, no copies)
            var qkv = nn.functional.linear(h, fusedWeights.Weight, fusedWeights.Bias).view(b, n, 3, heads, dimHead).permute(2, 0, 3, 1, 4);
            (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        }
        else
        {
            // [B, N, heads*d] -> [B, N, heads, d] -> [B, heads, N, d]
            q = to_q.forward(h).view(b, n, heads, dimHead).transpose(1, 2);
            (k, v) = context is not null && cache?.KeyValue(this, context) is { } cached ? cached : ProjectContext(ctx);
        }

        bool upcast = upcastAttention && q.dtype != ScalarType.Float32;
        var o = !upcast && (fused ?? UsesFusedKernel(t))
            ? nn.functional.scaled_dot_product_attention(q, k, v)
            : ManualAttention(q, k, v, upcast);
        // [B, heads, N, d] -> [B, N, heads, d] -> [B, N, heads*d]
        o = o.transpose(1, 2).reshape(b, n, heads * dimHead);
        o = to_out[0].forward(o);

        if (spatial) o = o.transpose(1, 2).reshape(x.shape); // [B, N, C] -> [B, C, H, W]
        if (residualConnection) o = o.add(x, Scalars.One);
        if (rescaleOutputFactor != 1.0) o = o / Scalars.Of(rescaleOutputFactor);
        return o.MoveToOuterDisposeScope();
    }

    /// <summary>The keys and values of a context: [B, T, D] -> [B, heads, T, d] each (what <see cref="AttentionCache"/> keeps).</summary>
    internal (Tensor Key, Tensor Value) ProjectContext(Tensor context)
    {
        long b = context.shape[0], t = context.shape[1];
        return (to_k.forward(context).view(b, t, heads, dimHead).transpose(1, 2),
                to_v.forward(context).view(b, t, heads, dimHead).transpose(1, 2));
    }

    /// <summary>to_q, to_k and to_v stacked: weight [3 heads*d, C] and bias [3 heads*d] (null without biases).</summary>
    internal (Tensor Weight, Tensor? Bias) FusedProjection() =>
        (cat([to_q.weight!, to_k.weight!, to_v.weight!]),
         to_q.bias is null ? null : cat([to_q.bias, to_k.bias!, to_v.bias!]));

    /// <summary>softmax(Q K^T / sqrt(d)) V, as diffusers' AttnProcessor computes it (softmax in the input dtype, or float32 when upcast).</summary>
    private Tensor ManualAttention(Tensor q, Tensor k, Tensor v, bool upcast)
    {
        // q: [B, heads, N, d], k, v: [B, heads, T, d] -> [B, heads, N, d]
        if (upcast) { q = q.to(ScalarType.Float32); k = k.to(ScalarType.Float32); }
        var scores = matmul(q, k.transpose(-1, -2)).mul_(Scalars.Of(1.0 / Math.Sqrt(dimHead))); // [B, heads, N, T]
        return matmul(scores.softmax(-1).to(v.dtype), v);
    }

    /// <summary>Writes this block's forward (sequence input, as the U-Net's transformer blocks use it) into an ONNX graph.</summary>
    /// <remarks>softmax(Q K^T / sqrt(d)) V as MatMul, Mul, Softmax, MatMul: the manual kernel, which equals the fused one
    /// within float32 rounding; upcast_attention has no effect in float32, the only dtype exported. A self-attention
    /// projects q, k and v with one MatMul on the stacked weights (<c>{key}.to_qkv.weight</c>); a cross-attention reads its
    /// keys and values from graph inputs <c>{key}.key</c> [B, heads, d, T] and <c>{key}.value</c> [B, heads, T, d] when
    /// <see cref="OnnxGraph.TextKeyValueInputs"/> is set (computed once per generation by <see cref="ExportKeyValuesOnnx"/>).</remarks>
    /// <param name="g">The graph.</param>
    /// <param name="key">This block's state-dict prefix, e.g. "mid_block.attentions.0.transformer_blocks.0.attn1".</param>
    /// <param name="x">[B, N, C].</param>
    /// <param name="context">[B, T, D], or null for self-attention (ignored when the keys and values are graph inputs).</param>
    /// <returns>[B, N, C].</returns>
    /// <exception cref="NotSupportedException">The block has a group norm, a residual connection or an output rescale (the VAE's form).</exception>
    public string ExportOnnx(OnnxGraph g, string key, string x, string? context)
    {
        if (group_norm is not null || residualConnection || rescaleOutputFactor != 1.0)
            throw new NotSupportedException($"{key}: the ONNX export covers the U-Net's attention (no group norm, residual or rescale); use ExportSpatialOnnx");
        return AttentionNodes(g, key, x, context);
    }

    /// <summary>Writes this block's forward on a feature map (the VAE's form: group norm, attention over the H*W positions, residual, rescale).</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">This block's state-dict prefix, e.g. "decoder.mid_block.attentions.0".</param>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, C, H, W].</returns>
    public string ExportSpatialOnnx(OnnxGraph g, string key, string x)
    {
        // x: [B, C, H, W] -> group norm (per channel, over H, W: the same as over the flattened N) -> [B, C, N] -> [B, N, C]
        string h = group_norm is null ? x : g.GroupNorm($"{key}.group_norm", group_norm, x);
        h = g.Node("Transpose", [g.Node("Reshape", [h, g.Ints("shape_flatten_hw", 0, 0, -1)])], OnnxAttribute.Ints("perm", 0, 2, 1));
        string o = AttentionNodes(g, key, h, context: null);
        // [B, N, C] -> [B, C, N] -> [B, C, H, W]
        o = g.Node("Reshape", [g.Node("Transpose", [o], OnnxAttribute.Ints("perm", 0, 2, 1)), g.Node("Shape", [x])]);
        if (residualConnection) o = g.Node("Add", [o, x]);
        return rescaleOutputFactor == 1.0 ? o : g.Node("Div", [o, g.Scalar("rescale_output_factor", rescaleOutputFactor)]);
    }

    /// <summary>Writes this cross-attention's keys and values of a context: outputs of the graph that runs once per generation.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">This block's state-dict prefix.</param>
    /// <param name="context">[B, T, D].</param>
    /// <returns>Keys [B, heads, d, T] (transposed for the MatMul with Q) and values [B, heads, T, d].</returns>
    public (string Key, string Value) ExportKeyValuesOnnx(OnnxGraph g, string key, string context)
    {
        string split = g.Ints("shape_heads", 0, 0, heads, dimHead);
        string k = g.Node("Transpose", [g.Node("Reshape", [g.Linear($"{key}.to_k", to_k, context), split])], OnnxAttribute.Ints("perm", 0, 2, 3, 1));
        string v = g.Node("Transpose", [g.Node("Reshape", [g.Linear($"{key}.to_v", to_v, context), split])], OnnxAttribute.Ints("perm", 0, 2, 1, 3));
        return (k, v);
    }

    string AttentionNodes(OnnxGraph g, string key, string x, string? context)
    {
        // [B, N, heads*d] -> [B, N, heads, d] -> q: [B, heads, N, d], k: [B, heads, d, T], v: [B, heads, T, d]
        string split = g.Ints("shape_heads", 0, 0, heads, dimHead);
        string q, k, v;
        long inner = heads * dimHead;
        if (context is null)
        {
            // Self-attention: one MatMul on [C, 3 inner], then the three column blocks.
            using var scope = NewDisposeScope();
            var (weight, bias) = FusedProjection();
            string qkv = g.Linear($"{key}.to_qkv", weight, bias, x);
            string Part(int i) => g.Node("Reshape", [g.Node("Slice", [qkv, g.Ints("start", i * inner), g.Ints("end", (i + 1) * inner), g.Ints("axis_last", -1)]), split]);
            q = g.Node("Transpose", [Part(0)], OnnxAttribute.Ints("perm", 0, 2, 1, 3));
            k = g.Node("Transpose", [Part(1)], OnnxAttribute.Ints("perm", 0, 2, 3, 1));
            v = g.Node("Transpose", [Part(2)], OnnxAttribute.Ints("perm", 0, 2, 1, 3));
        }
        else
        {
            q = g.Node("Transpose", [g.Node("Reshape", [g.Linear($"{key}.to_q", to_q, x), split])], OnnxAttribute.Ints("perm", 0, 2, 1, 3));
            (k, v) = g.TextKeyValueInputs
                ? (g.Input($"{key}.key", "batch", (long)heads, dimHead, "sequence"), g.Input($"{key}.value", "batch", (long)heads, "sequence", dimHead))
                : ExportKeyValuesOnnx(g, key, context);
        }
        // [B, heads, N, T] scores -> probabilities -> [B, heads, N, d]
        string scores = g.Node("Mul", [g.Node("MatMul", [q, k]), g.Scalar("attention_scale", 1.0 / Math.Sqrt(dimHead))]);
        string o = g.Node("MatMul", [g.Node("Softmax", [scores], OnnxAttribute.Int("axis", -1)), v]);
        // [B, heads, N, d] -> [B, N, heads, d] -> [B, N, heads*d] -> [B, N, C]
        o = g.Node("Reshape", [g.Node("Transpose", [o], OnnxAttribute.Ints("perm", 0, 2, 1, 3)), g.Ints("shape_merge_heads", 0, 0, inner)]);
        return g.Linear($"{key}.to_out.0", to_out[0], o);
    }
}
