using static TorchSharp.torch;

namespace Latent.Judge.Evaluation;

/// <summary>Top-k accuracy of the judge where each image may have several acceptable classes.</summary>
public static class JudgeAccuracy
{
    /// <summary>Per image: whether any acceptable class is among the k highest logits.</summary>
    /// <param name="logits">[N, K].</param>
    /// <param name="acceptable">N non-empty sets of class ids in [0, K).</param>
    /// <param name="k">1 ≤ k; clamped to K.</param>
    /// <returns>N booleans. Ties are broken by the engine's top-k order.</returns>
    /// <exception cref="ArgumentException">Shapes disagree, a set is empty, or an id is out of range.</exception>
    public static bool[] Hits(Tensor logits, IReadOnlyList<IReadOnlyCollection<int>> acceptable, int k)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(acceptable);
        if (logits.dim() != 2) throw new ArgumentException($"expected logits [N, K]; got [{string.Join(", ", logits.shape)}].", nameof(logits));
        if (acceptable.Count != logits.shape[0])
            throw new ArgumentException($"{acceptable.Count} acceptable sets for {logits.shape[0]} images; expected one per image.", nameof(acceptable));
        if (k < 1) throw new ArgumentException($"k is {k}; expected ≥ 1.", nameof(k));
        long classes = logits.shape[1];
        for (int i = 0; i < acceptable.Count; i++)
        {
            if (acceptable[i].Count == 0) throw new ArgumentException($"image {i} has no acceptable class; expected at least one.", nameof(acceptable));
            foreach (int c in acceptable[i])
                if (c < 0 || c >= classes) throw new ArgumentException($"image {i}: class {c} is outside [0, {classes}).", nameof(acceptable));
        }
        if (acceptable.Count == 0) return [];
        using var scope = NewDisposeScope();
        var top = logits.topk((int)Math.Min(k, classes), dim: 1).indexes.to(ScalarType.Int64);   // [N, k]
        var rows = top.data<long>().ToArray();
        int width = (int)top.shape[1];
        var hits = new bool[acceptable.Count];
        for (int i = 0; i < hits.Length; i++)
            for (int j = 0; j < width && !hits[i]; j++)
                hits[i] = acceptable[i].Contains((int)rows[i * width + j]);
        return hits;
    }

    /// <summary>The fraction of <see cref="Hits"/> that are true (NaN for no images).</summary>
    public static double TopK(Tensor logits, IReadOnlyList<IReadOnlyCollection<int>> acceptable, int k)
    {
        var hits = Hits(logits, acceptable, k);
        return hits.Length == 0 ? double.NaN : hits.Count(h => h) / (double)hits.Length;
    }
}
