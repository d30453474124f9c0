using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Evaluation;

/// <summary>Recall@k and zero-shot accuracy from similarity matrices.</summary>
public static class RetrievalMetrics
{
    /// <summary>
    /// Recall@k of queries against a pool: the fraction of queries (rows of <paramref name="similarity"/>) for which at
    /// least one relevant item is among the k most similar items (columns). Ties are broken by torch's topk.
    /// </summary>
    /// <param name="similarity">[Q, N] float, larger = more similar.</param>
    /// <param name="relevant">[Q, N] bool, which items are correct answers for each query (each row needs one).</param>
    /// <param name="k">1 ≤ k ≤ N.</param>
    /// <returns>A value in [0, 1].</returns>
    /// <exception cref="ArgumentException">Shapes differ, k is out of range, or a query has no relevant item.</exception>
    public static double RecallAtK(Tensor similarity, Tensor relevant, int k)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        ArgumentNullException.ThrowIfNull(relevant);
        if (similarity.dim() != 2 || !similarity.shape.SequenceEqual(relevant.shape) || relevant.dtype != ScalarType.Bool)
            throw new ArgumentException(
                $"expected similarity [Q, N] and a bool relevance of the same shape; got {similarity.dtype} [{string.Join(", ", similarity.shape)}] " +
                $"and {relevant.dtype} [{string.Join(", ", relevant.shape)}].");
        long n = similarity.shape[1];
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), k, $"expected 1 <= k <= N = {n}");
        using var scope = NewDisposeScope();
        if (!relevant.any(1).all().item<bool>())
            throw new ArgumentException("every query needs at least one relevant item; a row of relevant is all false.", nameof(relevant));
        var top = similarity.topk(k, dim: 1).indexes;                // [Q, k]
        var hit = relevant.gather(1, top).any(1);                    // [Q]
        return hit.to(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>Recall@k where the relevant items are the diagonal (query i matches item i).</summary>
    /// <param name="similarity">[N, N] float.</param>
    /// <param name="k">1 ≤ k ≤ N.</param>
    public static double RecallAtK(Tensor similarity, int k)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        if (similarity.dim() != 2 || similarity.shape[0] != similarity.shape[1])
            throw new ArgumentException($"expected a square [N, N] similarity; got [{string.Join(", ", similarity.shape)}].", nameof(similarity));
        using var eye = torch.eye(similarity.shape[0], dtype: ScalarType.Bool);
        return RecallAtK(similarity, eye, k);
    }

    /// <summary>Relevance from group ids: <c>relevant[q, n] = queryGroups[q] == itemGroups[n]</c>.</summary>
    /// <returns>[Q, N] bool.</returns>
    public static Tensor SameGroup(IReadOnlyList<int> queryGroups, IReadOnlyList<int> itemGroups)
    {
        ArgumentNullException.ThrowIfNull(queryGroups);
        ArgumentNullException.ThrowIfNull(itemGroups);
        using var scope = NewDisposeScope();
        var q = tensor(queryGroups.Select(g => (long)g).ToArray());  // [Q]
        var n = tensor(itemGroups.Select(g => (long)g).ToArray());   // [N]
        return q.unsqueeze(1).eq(n.unsqueeze(0)).MoveToOuterDisposeScope();   // [Q, 1] == [1, N] -> [Q, N]
    }

    /// <summary>Zero-shot accuracy: the fraction of rows whose most similar class is the label.</summary>
    /// <param name="similarity">[N, C] float: each image against each class prompt.</param>
    /// <param name="labels">N class indices in [0, C).</param>
    /// <returns>A value in [0, 1].</returns>
    /// <exception cref="ArgumentException">Shapes differ or a label is out of range.</exception>
    public static double ZeroShotAccuracy(Tensor similarity, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        ArgumentNullException.ThrowIfNull(labels);
        if (similarity.dim() != 2 || similarity.shape[0] != labels.Count)
            throw new ArgumentException(
                $"expected similarity [N, C] with N = {labels.Count} labels; got [{string.Join(", ", similarity.shape)}].");
        long c = similarity.shape[1];
        if (labels.Any(l => l < 0 || l >= c))
            throw new ArgumentException($"label {labels.First(l => l < 0 || l >= c)} is out of range; expected 0 <= label < C = {c}.", nameof(labels));
        using var scope = NewDisposeScope();
        var predicted = similarity.argmax(1);                        // [N]
        var truth = tensor(labels.Select(l => (long)l).ToArray());   // [N]
        return predicted.eq(truth).to(ScalarType.Float64).mean().item<double>();
    }
}
