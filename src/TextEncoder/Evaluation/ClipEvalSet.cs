using System.Text.Json;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.TextEncoder.Captions;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Evaluation;

/// <summary>
/// Held-out (image, caption) pairs loaded once for evaluation: the images, each record's first caption (the plain name,
/// no template), its key (<see cref="ClipPairKeys"/>) and its zero-shot class.
/// </summary>
public sealed class ClipEvalSet : IDisposable
{
    ClipEvalSet(Tensor images, string[] texts, int[] groups, int[] labels, ZeroShotClasses classes)
    {
        Images = images;
        Texts = texts;
        Groups = groups;
        Labels = labels;
        Classes = classes;
    }

    /// <summary>[N, 3, S, S] in [-1, 1].</summary>
    public Tensor Images { get; }

    /// <summary>N captions, pair i describing image i.</summary>
    public IReadOnlyList<string> Texts { get; }

    /// <summary>N group ids: pairs with equal ids show the same thing (same key), so either is a right answer.</summary>
    public IReadOnlyList<int> Groups { get; }

    /// <summary>N zero-shot class indices into <see cref="Classes"/>, -1 for an image without a class.</summary>
    public IReadOnlyList<int> Labels { get; }

    /// <summary>The zero-shot classes (empty when no record has the category field).</summary>
    public ZeroShotClasses Classes { get; }

    /// <summary>N, the number of pairs.</summary>
    public int Count => Texts.Count;

    /// <summary>Loads the first <paramref name="maxPairs"/> records of <paramref name="dataset"/> (file order).</summary>
    /// <param name="dataset">The held-out split.</param>
    /// <param name="imageSize">Side the images are resized to (the image tower's).</param>
    /// <param name="maxPairs">At most this many pairs.</param>
    /// <param name="keyField">The metadata field of the identity (see <see cref="ClipPairKeys.Of"/>).</param>
    /// <param name="categoryField">The metadata field of the zero-shot class.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxPairs"/> is below 2.</exception>
    /// <exception cref="InvalidDataException">An image cannot be decoded.</exception>
    public static ClipEvalSet Load(ImageFolderDataset dataset, int imageSize, int maxPairs, string keyField, string categoryField)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (maxPairs < 2) throw new ArgumentOutOfRangeException(nameof(maxPairs), maxPairs, "expected at least 2 pairs");
        int n = Math.Min(maxPairs, dataset.Count);
        var records = dataset.Records.Take(n).ToList();
        var keys = records.Select(r => ClipPairKeys.Of(r, keyField)).ToList();
        var groupOf = new Dictionary<string, int>();
        int[] groups = keys.Select(k => groupOf.TryGetValue(k, out int g) ? g : groupOf[k] = groupOf.Count).ToArray();
        var categories = records.Select(r => r.Fields.TryGetValue(categoryField, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null).ToList();
        var classes = ZeroShotClasses.Build(categories);
        int[] labels = categories.Select(classes.IndexOf).ToArray();
        using var scope = NewDisposeScope();
        var size = new ImageSize(imageSize, imageSize);
        var images = stack(Enumerable.Range(0, n).Select(i => dataset.LoadImage(i, size)).ToArray());   // N x [3, S, S] -> [N, 3, S, S]
        return new ClipEvalSet(images.MoveToOuterDisposeScope(), records.Select(r => r.Captions[0]).ToArray(), groups, labels, classes);
    }

    /// <summary>Frees the images.</summary>
    public void Dispose() => Images.Dispose();
}
