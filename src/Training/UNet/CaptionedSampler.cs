using Latent.Core.Training;
using Latent.Pipeline;

namespace Latent.Training.UNet;

/// <summary>One batch's choice of examples: image indices and, for each, the index of the caption picked for it.</summary>
/// <param name="Images">B image indices.</param>
/// <param name="Captions">B caption indices (into <see cref="LatentCache.Captions"/>), one of each image's captions.</param>
public sealed record CaptionedBatch(int[] Images, int[] Captions);

/// <summary>
/// The data order of latent training: a <see cref="ShuffleSampler"/> over the images and, for each draw, one of the
/// image's captions, picked by a fixed hash of (seed, epoch, position), so a resumed run, whose sampler state is
/// restored from the checkpoint, picks the same captions.
/// </summary>
/// <remarks>
/// With groups (<c>balance_by</c>), the shuffle runs over the groups instead: every group is drawn once an epoch, and
/// each draw takes one of the group's images by a second fixed hash, so every group gets the same share of the steps
/// however many images it has. For the emoji data, grouped by base emoji, this stops the 48% of images that are
/// skin-tone variants of about 400 people and hand emoji from taking half of the U-Net's steps.
/// </remarks>
public sealed class CaptionedSampler
{
    readonly IReadOnlyList<int[]> imageCaptions;
    readonly int[][] groups;        // image indices per group; one group per image when not balancing

    /// <summary>Starts at epoch 0, position 0.</summary>
    /// <param name="imageCaptions">For each image its caption indices (at least one each).</param>
    /// <param name="seed">The data seed.</param>
    /// <param name="imageGroups">For each image its group (any integers); null: every image is its own group.</param>
    /// <exception cref="ArgumentException">There are no images, an image has no caption, or the groups do not cover the
    /// images one to one.</exception>
    public CaptionedSampler(IReadOnlyList<int[]> imageCaptions, ulong seed, IReadOnlyList<int>? imageGroups = null)
    {
        ArgumentNullException.ThrowIfNull(imageCaptions);
        int bad = imageCaptions.ToList().FindIndex(c => c is not { Length: > 0 });
        if (bad >= 0) throw new ArgumentException($"image {bad} has no caption; expected at least one per image", nameof(imageCaptions));
        if (imageGroups is not null && imageGroups.Count != imageCaptions.Count)
            throw new ArgumentException($"{imageGroups.Count} image groups for {imageCaptions.Count} images; expected one group per image", nameof(imageGroups));
        this.imageCaptions = imageCaptions;
        groups = imageGroups is null
            ? Enumerable.Range(0, imageCaptions.Count).Select(i => new[] { i }).ToArray()
            : Enumerable.Range(0, imageGroups.Count).GroupBy(i => imageGroups[i]).Select(g => g.ToArray()).ToArray();
        Sampler = new ShuffleSampler(groups.Length, seed);
    }

    /// <summary>The number of groups an epoch visits (the number of images when not balancing).</summary>
    public int GroupCount => groups.Length;

    /// <summary>The group order and position: what a checkpoint saves (<see cref="TrainingState.Sampler"/>).</summary>
    public ShuffleSampler Sampler { get; }

    /// <summary>The next <paramref name="batchSize"/> images and their captions.</summary>
    public CaptionedBatch Next(int batchSize)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "expected at least 1");
        var images = new int[batchSize];
        var captions = new int[batchSize];
        for (int b = 0; b < batchSize; b++)
        {
            long epoch = Sampler.Epoch;
            int position = Sampler.Position;
            int[] members = groups[Sampler.Next()];
            int image = members.Length == 1 ? members[0] : members[(int)(Draw(~Sampler.Seed, epoch, position) % (ulong)members.Length)];
            int[] choices = imageCaptions[image];
            images[b] = image;
            captions[b] = choices[(int)(Draw(Sampler.Seed, epoch, position) % (ulong)choices.Length)];
        }
        return new CaptionedBatch(images, captions);
    }

    /// <summary>A fixed 64-bit draw per (seed, epoch, position) (SplitMix64 finalisers).</summary>
    static ulong Draw(ulong seed, long epoch, int position) =>
        Mix(seed ^ Mix(0xC2B2AE3D27D4EB4FUL ^ Mix((ulong)epoch * 0x9E3779B97F4A7C15UL + (ulong)position)));

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
