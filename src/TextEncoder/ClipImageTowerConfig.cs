namespace Latent.TextEncoder;

/// <summary>
/// The image tower of our CLIP (<see cref="ClipImageTower"/>): a small GroupNorm ResNet on 64px images. Not a
/// transformers model (ours replaces CLIP's ViT), so the record is plain; its keys follow diffusers' block names.
/// </summary>
/// <remarks>
/// Why a ResNet and not a ViT: we train on a few thousand 64px emoji, where a convolution's locality prior learns far
/// faster than a ViT's patch tokens, and it costs a fraction of the compute per image on a CPU. GroupNorm, not BatchNorm,
/// so that the contrastive batch's images stay independent and training equals evaluation.
/// </remarks>
public sealed record ClipImageTowerConfig
{
    /// <summary>Side of the square input images, in pixels (64: our dataset's size).</summary>
    public int ImageSize { get; init; } = 64;

    /// <summary>Channels of the input images (3: RGB in [-1, 1]).</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Stride of <c>conv_in</c>: 1 keeps the full resolution for the first stage; 2 halves it at once, which cuts
    /// the tower's compute about 4x (the first stage at 64x64 was most of it) for emoji whose details are coarser than a pixel.</summary>
    public int ConvInStride { get; init; } = 1;

    /// <summary>Channels of each stage; every stage but the last halves H and W (64 -> 8 px with four stages).</summary>
    public int[] BlockOutChannels { get; init; } = [32, 64, 128, 256];

    /// <summary>Residual blocks per stage (1: the tower only has to tell a few thousand images apart).</summary>
    public int LayersPerBlock { get; init; } = 1;

    /// <summary>GroupNorm groups; must divide every entry of <see cref="BlockOutChannels"/> (8: 4 channels per group at the first stage).</summary>
    public int NormNumGroups { get; init; } = 8;

    /// <summary>GroupNorm epsilon (diffusers' 1e-6).</summary>
    public double NormEps { get; init; } = 1e-6;

    /// <summary>A tiny tower for tests: 16px images, two stages of 8 and 16 channels, 4 groups.</summary>
    public static ClipImageTowerConfig Tiny { get; } = new()
    {
        ImageSize = 16,
        BlockOutChannels = [8, 16],
        NormNumGroups = 4,
    };

    /// <summary>The tower of our 64px emoji CLIP: a stride-2 <c>conv_in</c>, then four stages (32, 64, 128, 256 channels),
    /// 32 -> 4 px, pooled to 256. About 0.08 GFLOP an image forward (a quarter of the stride-1 tower's).</summary>
    public static ClipImageTowerConfig Default { get; } = new() { ConvInStride = 2 };

    /// <summary>Width of the pooled image state, the last stage's channels.</summary>
    public int HiddenSize => BlockOutChannels[^1];

    /// <summary>Checks every value; the message names the property, the value found and what is expected.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        if (InChannels <= 0)
            throw new ArgumentException($"ClipImageTowerConfig.InChannels is {InChannels}; expected ≥ 1.");
        if (BlockOutChannels is null || BlockOutChannels.Length == 0)
            throw new ArgumentException("ClipImageTowerConfig.BlockOutChannels is empty; expected at least one stage.");
        if (LayersPerBlock <= 0)
            throw new ArgumentException($"ClipImageTowerConfig.LayersPerBlock is {LayersPerBlock}; expected ≥ 1.");
        if (NormNumGroups <= 0)
            throw new ArgumentException($"ClipImageTowerConfig.NormNumGroups is {NormNumGroups}; expected ≥ 1.");
        foreach (int c in BlockOutChannels)
            if (c <= 0 || c % NormNumGroups != 0)
                throw new ArgumentException(
                    $"ClipImageTowerConfig.BlockOutChannels holds {c}; expected positive multiples of NormNumGroups = {NormNumGroups}.");
        if (ConvInStride is not (1 or 2))
            throw new ArgumentException($"ClipImageTowerConfig.ConvInStride is {ConvInStride}; expected 1 or 2.");
        int factor = ConvInStride << (BlockOutChannels.Length - 1);
        if (ImageSize <= 0 || ImageSize % factor != 0)
            throw new ArgumentException(
                $"ClipImageTowerConfig.ImageSize is {ImageSize}; expected a positive multiple of {factor} (conv_in stride x 2^(stages - 1)).");
        if (!(NormEps > 0))
            throw new ArgumentException($"ClipImageTowerConfig.NormEps is {NormEps}; expected > 0.");
    }
}
