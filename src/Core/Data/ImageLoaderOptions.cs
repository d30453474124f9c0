using Latent.Core.Imaging;

namespace Latent.Core.Data;

/// <summary>Augmentations the loader may apply. None by default: each must be asked for.</summary>
[Flags]
public enum Augmentations
{
    /// <summary>Images as they are.</summary>
    None = 0,

    /// <summary>Mirror half of the images left-right (a fixed, seeded choice per example and epoch). Opt-in because
    /// mirroring is wrong for emoji that carry text or direction (keycaps, "ON!", arrows, flags with text).</summary>
    HorizontalFlip = 1,
}

/// <summary>Which of a record's captions a batch uses.</summary>
public enum CaptionChoice
{
    /// <summary>One of the captions at random (a fixed, seeded choice per example and epoch), so training sees them all.</summary>
    Random,

    /// <summary>Always the first caption (e.g. for validation).</summary>
    First,
}

/// <summary>Options for <see cref="ImageBatchLoader"/>.</summary>
public sealed record ImageLoaderOptions
{
    /// <summary>B, the examples per batch.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>The data seed: it fixes the order (see <see cref="Training.ShuffleSampler"/>), the flips and the captions.</summary>
    public ulong Seed { get; init; }

    /// <summary>The size images are resized to; 64x64, the emoji data set's size.</summary>
    public ImageSize Size { get; init; } = new(64, 64);

    /// <summary>Augmentations to apply; none by default.</summary>
    public Augmentations Augment { get; init; } = Augmentations.None;

    /// <summary>Which caption a batch uses for each example.</summary>
    public CaptionChoice Captions { get; init; } = CaptionChoice.Random;

    /// <summary>Batches prepared ahead on a background thread; 0 decodes on the caller's thread. Two keeps one batch
    /// ready while the next is decoded, which is all a training step needs.</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">BatchSize is not positive, Prefetch is negative, or Size is not positive.</exception>
    public void Validate()
    {
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"batch size must be positive; got {BatchSize}");
        if (Prefetch < 0) throw new ArgumentOutOfRangeException(nameof(Prefetch), Prefetch, $"prefetch must be 0 or more; got {Prefetch}");
        Size.Validate(nameof(Size));
    }
}
