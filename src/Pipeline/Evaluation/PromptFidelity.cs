using static TorchSharp.torch;

namespace Latent.Pipeline.Evaluation;

/// <summary>
/// Prompt fidelity: the fraction of images whose own caption is the nearest of all candidate captions in a CLIP's joint
/// space (top-1 text retrieval per image). Scored for generated images against their prompts, and for real images against
/// their captions, which is the ceiling a perfect generator could reach with this CLIP.
/// </summary>
public static class PromptFidelity
{
    /// <summary>The fraction of rows i where candidate <c>targets[i]</c> has the highest cosine with image i.</summary>
    /// <param name="images">[N, P] unit-norm image embeddings.</param>
    /// <param name="candidates">[C, P] unit-norm caption embeddings.</param>
    /// <param name="targets">N indices into the candidates.</param>
    /// <returns>In [0, 1]. Ties count against the image (the target must be strictly first, or the first of equals by index).</returns>
    /// <exception cref="ArgumentException">Shapes or the target count disagree, or a target is out of range.</exception>
    public static double TopOne(Tensor images, Tensor candidates, IReadOnlyList<int> targets)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(targets);
        if (images.dim() != 2 || candidates.dim() != 2 || images.shape[1] != candidates.shape[1])
            throw new ArgumentException(
                $"expected images [N, P] and candidates [C, P]; got [{string.Join(", ", images.shape)}] and [{string.Join(", ", candidates.shape)}].");
        if (targets.Count != images.shape[0])
            throw new ArgumentException($"{targets.Count} targets for {images.shape[0]} images; expected one per image.", nameof(targets));
        if (targets.Count == 0) throw new ArgumentException("no images to score; expected at least one.", nameof(images));
        foreach (int t in targets)
            if (t < 0 || t >= candidates.shape[0])
                throw new ArgumentException($"target {t} is outside the {candidates.shape[0]} candidates.", nameof(targets));
        using var scope = NewDisposeScope();
        var best = images.matmul(candidates.t()).argmax(1);                        // [N, C] -> [N]
        var hits = best.eq(tensor(targets.Select(t => (long)t).ToArray()));        // [N]
        return hits.to(ScalarType.Float64).mean().item<double>();
    }
}
