using Latent.TextEncoder.Tokenization;
using Latent.TextEncoder.Captions;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Evaluation;

/// <summary>
/// Evaluates a <see cref="ClipModel"/> on held-out pairs: text-to-image and image-to-text recall@1 and @5 within the
/// pool of all N pairs, and zero-shot accuracy over the classes with the prompt template (e.g. "an emoji of {caption}").
/// </summary>
/// <remarks>
/// Similarities are cosines of the projected embeddings. An item counts as relevant when it shows the same key as the
/// query's own pair (the same emoji in another style, or the same caption text), so a pool holding two renderings of
/// one emoji does not punish the model for picking either.
/// </remarks>
public static class ClipEvaluator
{
    /// <summary>Computes the metrics (in inference mode; the model's training flag is restored).</summary>
    /// <param name="model">The CLIP.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <param name="set">The pairs.</param>
    /// <param name="zeroShotTemplate">The class prompt with a <c>{caption}</c> slot (and optionally <c>{a}</c>).</param>
    /// <param name="batchSize">Images or texts per forward.</param>
    /// <exception cref="ArgumentException">The template has no single caption slot, or the batch size is not positive.</exception>
    public static ClipEvaluation Evaluate(ClipModel model, ClipTokenizer tokenizer, ClipEvalSet set, string zeroShotTemplate, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(set);
        CaptionTemplates.Validate(zeroShotTemplate, nameof(zeroShotTemplate));
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "expected a positive batch size");
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var inference = inference_mode();
            var image = EncodeImages(model, set.Images, batchSize);                        // [N, P], unit rows
            var text = EncodeTexts(model, tokenizer, set.Texts, batchSize);                // [N, P], unit rows
            var textToImage = text.matmul(image.t());                                      // [N, N]
            var relevant = RetrievalMetrics.SameGroup(set.Groups, set.Groups);             // [N, N]
            int k5 = Math.Min(5, set.Count);
            double t1 = RetrievalMetrics.RecallAtK(textToImage, relevant, 1);
            double t5 = RetrievalMetrics.RecallAtK(textToImage, relevant, k5);
            double i1 = RetrievalMetrics.RecallAtK(textToImage.t(), relevant.t(), 1);
            double i5 = RetrievalMetrics.RecallAtK(textToImage.t(), relevant.t(), k5);

            double? zeroShot = null;
            var labelled = Enumerable.Range(0, set.Count).Where(i => set.Labels[i] >= 0).ToArray();
            if (set.Classes.Names.Count > 0 && labelled.Length > 0)
            {
                var prompts = set.Classes.Names.Select(c => CaptionTemplates.Apply(zeroShotTemplate, c)).ToList();
                var classes = EncodeTexts(model, tokenizer, prompts, batchSize);          // [C, P]
                var rows = image.index_select(0, tensor(labelled.Select(i => (long)i).ToArray()));   // [N_l, P]
                zeroShot = RetrievalMetrics.ZeroShotAccuracy(rows.matmul(classes.t()), labelled.Select(i => set.Labels[i]).ToList());
            }
            return new ClipEvaluation(set.Count, t1, t5, i1, i5, zeroShot, set.Classes.Names.Count, labelled.Length);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>Unit-norm image embeddings, batch by batch.</summary>
    /// <returns>[N, P].</returns>
    public static Tensor EncodeImages(ClipModel model, Tensor images, int batchSize)
    {
        // images: [N, 3, S, S] -> [N, P]
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(images);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < images.shape[0]; start += batchSize)
            parts.Add(model.EncodeImage(images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start))));
        return nn.functional.normalize(cat(parts, 0), p: 2.0, dim: 1).MoveToOuterDisposeScope();
    }

    /// <summary>Unit-norm text embeddings, batch by batch (each batch padded to its longest text).</summary>
    /// <returns>[N, P].</returns>
    public static Tensor EncodeTexts(ClipModel model, ClipTokenizer tokenizer, IReadOnlyList<string> texts, int batchSize)
    {
        // texts: N strings -> ids [b, T] per batch -> [N, P]
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(texts);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        for (int start = 0; start < texts.Count; start += batchSize)
        {
            var batch = texts.Skip(start).Take(batchSize).ToList();
            var (ids, mask) = tokenizer.EncodeBatch(batch, LongestPadding);
            mask.Dispose();
            parts.Add(model.EncodeText(ids));
        }
        return nn.functional.normalize(cat(parts, 0), p: 2.0, dim: 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Padding to the longest text of a batch: the causal encoder pools at the first eos, which never attends to the
    /// padding after it, so the result equals padding to 77 while the attention costs far less.
    /// </summary>
    public static ClipPaddingOptions LongestPadding { get; } = new() { Padding = ClipPadding.Longest };
}
