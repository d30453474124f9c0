using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Training;

/// <summary>
/// CLIP's symmetric InfoNCE with in-batch false negatives masked out.
/// </summary>
/// <remarks>
/// <para>With L2-normalised embeddings and s = exp(logit_scale): <c>logits = s · text @ image^T</c> [B, B]; every
/// masked entry (i, j) is set to −∞, so pair j is neither a positive nor a negative for pair i (it adds nothing to the
/// softmax denominator and gets no gradient); then <c>loss = (CE(logits, arange B) + CE(logits^T, arange B)) / 2</c>.
/// With no mask this is exactly <see cref="ClipModel.ContrastiveLoss"/>.</para>
/// <para>Why mask rather than sample at most one rendering per emoji per batch: the mask is exact for any batch (also for
/// two different emoji that share a caption), keeps the data order a plain shuffle (so resume needs nothing but the
/// sampler's position), and costs a [B, B] comparison. The diagonal is never masked, so every row keeps its positive
/// and the loss stays finite.</para>
/// </remarks>
public static class ClipContrastiveLoss
{
    /// <summary>The masked symmetric loss.</summary>
    /// <param name="imageEmbeds">[B, P], normalised here.</param>
    /// <param name="textEmbeds">[B, P], row i matching image i; normalised here.</param>
    /// <param name="logitScale">s = exp(logit_scale), 0-dim (gradients flow through it).</param>
    /// <param name="falseNegatives">[B, B] bool, true at the pairs to leave out (the diagonal must be false); null: none.</param>
    /// <returns>A 0-dim loss.</returns>
    /// <exception cref="ArgumentException">Shapes do not fit, or the mask covers the diagonal.</exception>
    public static Tensor Compute(Tensor imageEmbeds, Tensor textEmbeds, Tensor logitScale, Tensor? falseNegatives = null)
    {
        ArgumentNullException.ThrowIfNull(imageEmbeds);
        ArgumentNullException.ThrowIfNull(textEmbeds);
        ArgumentNullException.ThrowIfNull(logitScale);
        if (imageEmbeds.dim() != 2 || !imageEmbeds.shape.SequenceEqual(textEmbeds.shape))
            throw new ArgumentException(
                $"embeddings must both be [B, P]; got image [{string.Join(", ", imageEmbeds.shape)}] and text [{string.Join(", ", textEmbeds.shape)}].");
        if (logitScale.dim() != 0)
            throw new ArgumentException($"logitScale must be 0-dim; got [{string.Join(", ", logitScale.shape)}].", nameof(logitScale));
        long b = imageEmbeds.shape[0];
        if (falseNegatives is not null)
        {
            if (falseNegatives.dim() != 2 || falseNegatives.shape[0] != b || falseNegatives.shape[1] != b || falseNegatives.dtype != ScalarType.Bool)
                throw new ArgumentException(
                    $"falseNegatives must be a [{b}, {b}] bool tensor; got {falseNegatives.dtype} [{string.Join(", ", falseNegatives.shape)}].", nameof(falseNegatives));
            if (falseNegatives.diagonal().any().item<bool>())
                throw new ArgumentException("falseNegatives masks a diagonal entry; expected the positives (i, i) unmasked.", nameof(falseNegatives));
        }
        // image, text: [B, P] -> []
        using var scope = NewDisposeScope();
        var image = nn.functional.normalize(imageEmbeds, p: 2.0, dim: 1);
        var text = nn.functional.normalize(textEmbeds, p: 2.0, dim: 1);
        var logitsPerText = text.matmul(image.t()) * logitScale;                         // [B, B]
        if (falseNegatives is not null)
            logitsPerText = logitsPerText.masked_fill(falseNegatives, Scalars.Of(double.NegativeInfinity));
        using var batchSize = b.ToScalar();
        var labels = arange(Scalars.Of(0), batchSize, Scalars.One, dtype: ScalarType.Int64, device: imageEmbeds.device);   // [B]
        var textLoss = nn.functional.cross_entropy(logitsPerText, labels);
        var imageLoss = nn.functional.cross_entropy(logitsPerText.t(), labels);
        return (textLoss.add(imageLoss, Scalars.One) / Scalars.Of(2.0)).MoveToOuterDisposeScope();
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
