using Latent.Core.Engine;
using Latent.TextEncoder.Captions;
using TorchSharp;
using static TorchSharp.torch;
using Latent.TextEncoder;

namespace Latent.Training.TextEncoder;

/// <summary>
/// CLIP's symmetric InfoNCE with in-batch false negatives masked out.
/// </summary>
/// <remarks>
/// <para>With L2-normalised embeddings and s = exp(logit_scale): <c>logits = s · text @ image^T</c> [B, B]; every
/// masked entry (i, j) is set to −∞, so pair j is neither a positive nor a negative for pair i (it adds nothing to the
/// softmax denominator and gets no gradient); then <c>loss = (CE(logits, arange B) + CE(logits^T, arange B)) / 2</c>.
/// The loss itself is <see cref="ClipModel.ContrastiveLoss"/>, which takes the mask; this class adds the mask of a batch's
/// keys and the data-parallel form.</para>
/// <para>Why mask rather than sample at most one rendering per emoji per batch: the mask is exact for any batch (also for
/// two different emoji that share a caption), keeps the data order a plain shuffle (so resume needs nothing but the
/// sampler's position), and costs a [B, B] comparison. The diagonal is never masked, so every row keeps its positive
/// and the loss stays finite.</para>
/// </remarks>
public static class ClipContrastiveLoss
{
    /// <summary>The masked symmetric loss (<see cref="ClipModel.ContrastiveLoss"/>).</summary>
    /// <param name="imageEmbeds">[B, P], normalised here.</param>
    /// <param name="textEmbeds">[B, P], row i matching image i; normalised here.</param>
    /// <param name="logitScale">s = exp(logit_scale), 0-dim (gradients flow through it).</param>
    /// <param name="falseNegatives">[B, B] bool, true at the pairs to leave out (the diagonal must be false); null: none.</param>
    /// <returns>A 0-dim loss.</returns>
    /// <exception cref="ArgumentException">Shapes do not fit, or the mask covers the diagonal.</exception>
    public static Tensor Compute(Tensor imageEmbeds, Tensor textEmbeds, Tensor logitScale, Tensor? falseNegatives = null) =>
        ClipModel.ContrastiveLoss(imageEmbeds, textEmbeds, logitScale, falseNegatives);

    /// <summary>
    /// One rank's part of <see cref="Compute"/> in a data-parallel step: the same loss value as one process's, and a
    /// gradient such that the sum over the N ranks of their gradients is one process's gradient.
    /// </summary>
    /// <remarks>
    /// <para>Every rank has its share's embeddings (live: they carry the gradient of its towers) and the whole batch's
    /// (gathered from all ranks: constants). It puts its live rows in place of their gathered copies and computes the
    /// whole batch's loss L. Its gradient then holds ∂L/∂e_i · ∂e_i/∂θ for its own rows i only; summed over the ranks
    /// (the all-reduce) that is Σ_i over the whole batch, the chain rule of one process. No 1/N scaling of the loss: each
    /// row's term comes from exactly one rank.</para>
    /// <para>The logit scale is the exception: every rank uses it live, so each rank's ∂L/∂s would be counted N times.
    /// It enters as <c>s.detach() + (s − s.detach()) / N</c>: the value is s exactly (s − s is 0), the gradient 1/N of
    /// ∂L/∂s, and the N ranks sum to ∂L/∂s once.</para>
    /// </remarks>
    /// <param name="imageShare">[c, P] this rank's image embeddings (rows [start, start + c) of the batch), with gradient.</param>
    /// <param name="textShare">[c, P] this rank's text embeddings, with gradient.</param>
    /// <param name="imageAll">[B, P] the gathered image embeddings of the whole batch (no gradient).</param>
    /// <param name="textAll">[B, P] the gathered text embeddings of the whole batch (no gradient).</param>
    /// <param name="share">This rank's rows.</param>
    /// <param name="ranks">N, the number of ranks.</param>
    /// <param name="logitScale">s = exp(logit_scale), 0-dim.</param>
    /// <param name="falseNegatives">[B, B] bool for the whole batch, as in <see cref="Compute"/>; null: none.</param>
    /// <returns>A 0-dim loss, the whole batch's.</returns>
    public static Tensor ComputeOnShare(Tensor imageShare, Tensor textShare, Tensor imageAll, Tensor textAll, Latent.Core.Training.BatchShare share,
        int ranks, Tensor logitScale, Tensor? falseNegatives = null)
    {
        ArgumentNullException.ThrowIfNull(imageShare);
        ArgumentNullException.ThrowIfNull(textShare);
        ArgumentNullException.ThrowIfNull(imageAll);
        ArgumentNullException.ThrowIfNull(textAll);
        ArgumentNullException.ThrowIfNull(logitScale);
        if (ranks < 1) throw new ArgumentOutOfRangeException(nameof(ranks), ranks, "expected at least 1 rank");
        long b = imageAll.shape[0];
        if (share.Start < 0 || share.Count < 1 || share.Start + share.Count > b || imageShare.shape[0] != share.Count || textShare.shape[0] != share.Count)
            throw new ArgumentException(
                $"the share rows [{share.Start}, {share.Start + share.Count}) do not fit: image share [{string.Join(", ", imageShare.shape)}], " +
                $"text share [{string.Join(", ", textShare.shape)}], batch of {b}; expected {share.Count} rows each within the batch.", nameof(share));
        using var scope = NewDisposeScope();
        // [B, P]: the gathered rows before the share, the live share, the gathered rows after it.
        Tensor Join(Tensor all, Tensor mine) => cat(
            [all.narrow(0, 0, share.Start).detach(), mine, all.narrow(0, share.Start + share.Count, b - share.Start - share.Count).detach()], 0);
        var image = Join(imageAll, imageShare);
        var text = Join(textAll, textShare);
        var fixedScale = logitScale.detach();
        using var n = ((double)ranks).ToScalar();
        var scale = fixedScale.add(logitScale.add(fixedScale, Scalars.Of(-1.0)).div(n), Scalars.One);   // value s, gradient 1/N
        return Compute(image, text, scale, falseNegatives).MoveToOuterDisposeScope();
    }

    /// <summary>The mask as a tensor: <see cref="ClipPairKeys.FalseNegatives"/> of the keys and texts.</summary>
    /// <returns>[B, B] bool.</returns>
    public static Tensor Mask(IReadOnlyList<string> keys, IReadOnlyList<string>? texts = null)
    {
        var m = ClipPairKeys.FalseNegatives(keys, texts);
        int n = keys.Count;
        var flat = new bool[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) flat[i * n + j] = m[i, j];
        // [B * B] -> [B, B]
        return tensor(flat, new long[] { n, n });
    }
}
