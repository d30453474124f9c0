using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Nn;

/// <summary>
/// What the <see cref="Attention"/> blocks of a model compute the same way at every call of one generation, computed
/// once: each cross-attention's keys and values of the text states, and each self-attention's q/k/v weights fused into
/// one matrix (one GEMM instead of three per call).
/// </summary>
/// <remarks>
/// <para>Built per generation (<see cref="Build"/>) rather than once at load: trainers, LoRAs and <c>load_state_dict</c>
/// change the weights in place, and a copy made at load would silently go stale. Building costs one projection of the
/// text states per cross-attention (which every step would otherwise repeat) and one concatenation of q/k/v weights per
/// self-attention (a copy of those weights, freed with the cache).</para>
/// <para>Inference only: it is built without gradients. The keys and values are valid only for the text states it was
/// built from; an attention given other states refuses the cache (<see cref="ArgumentException"/>) rather than use
/// the wrong ones.</para>
/// </remarks>
public sealed class AttentionCache : IDisposable
{
    readonly Tensor context;
    readonly Dictionary<Attention, (Tensor Key, Tensor Value)> keyValues = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<Attention, (Tensor Weight, Tensor? Bias)> fusedProjections = new(ReferenceEqualityComparer.Instance);
    bool disposed;

    AttentionCache(Tensor context) => this.context = context;

    /// <summary>Projects <paramref name="context"/> for every cross-attention and fuses every self-attention's q/k/v weights.</summary>
    /// <param name="attentions">The model's attention blocks (e.g. <c>model.modules().OfType&lt;Attention&gt;()</c>).</param>
    /// <param name="context">[B, T, D] text states, in the blocks' dtype; not copied, so keep it alive and unchanged while the cache is used.</param>
    /// <returns>The cache; the caller disposes it.</returns>
    public static AttentionCache Build(IEnumerable<Attention> attentions, Tensor context)
    {
        ArgumentNullException.ThrowIfNull(attentions);
        ArgumentNullException.ThrowIfNull(context);
        var cache = new AttentionCache(context);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        foreach (Attention a in attentions)
        {
            if (a.IsCrossAttention)
            {
                var (k, v) = a.ProjectContext(context);
                cache.keyValues[a] = (k.DetachFromDisposeScope(), v.DetachFromDisposeScope());
            }
            else
            {
                var (w, b) = a.FusedProjection();
                cache.fusedProjections[a] = (w.DetachFromDisposeScope(), b?.DetachFromDisposeScope());
            }
        }
        return cache;
    }

    /// <summary>Cross-attentions whose keys and values are cached.</summary>
    public int KeyValueCount => keyValues.Count;

    /// <summary>Self-attentions whose q/k/v weights are fused.</summary>
    public int FusedCount => fusedProjections.Count;

    /// <summary>The cached keys and values of <paramref name="attention"/> for <paramref name="states"/>, [B, heads, T, d] each.</summary>
    /// <exception cref="ArgumentException"><paramref name="states"/> is not the tensor the cache was built from.</exception>
    internal (Tensor Key, Tensor Value)? KeyValue(Attention attention, Tensor states)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (!keyValues.TryGetValue(attention, out var kv)) return null;
        if (!ReferenceEquals(states, context) && states.Handle != context.Handle)
            throw new ArgumentException("the attention cache was built for other text states; build it from the states passed to the model", nameof(states));
        return kv;
    }

    /// <summary>The fused [3 inner, C] weight (and [3 inner] bias) of a self-attention, or null.</summary>
    internal (Tensor Weight, Tensor? Bias)? FusedProjection(Attention attention)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return fusedProjections.TryGetValue(attention, out var w) ? w : null;
    }

    /// <summary>Frees the cached tensors (not the text states).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var (k, v) in keyValues.Values) { k.Dispose(); v.Dispose(); }
        foreach (var (w, b) in fusedProjections.Values) { w.Dispose(); b?.Dispose(); }
    }
}
