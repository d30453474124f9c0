using Latent.Core.Config;

namespace Latent.Pipeline.Guidance;

/// <summary>
/// The architecture of <see cref="NoisyLatentClassifier"/>, p_phi(y | x_t, t) of classifier guidance (Dhariwal &amp;
/// Nichol 2021, section 4), saved as <c>config.json</c> next to its weights. Keys are snake_case.
/// </summary>
/// <remarks>
/// The paper's classifier is the U-Net's downsampling half with attention pooling; on 16x16x4 latents of 64 px emoji a
/// smaller net suffices: a 3x3 conv to C0, one timestep-conditioned <c>ResnetBlock2D</c> per level with a stride-2 conv
/// between levels, GroupNorm + SiLU, average pooling and a linear layer. 64-128-128 channels: 0.8 M parameters, about
/// 60 M multiply-adds per latent, so its gradient costs a small fraction of a U-Net call.
/// </remarks>
public sealed record NoisyLatentClassifierConfig : DiffusersConfig
{
    /// <summary>The class name recorded in <c>_class_name</c>.</summary>
    public const string ClassNameValue = "NoisyLatentClassifier";

    /// <summary>Latent channels C (the VAE's latent_channels; 4 for SD).</summary>
    public int InChannels { get; init; } = 4;

    /// <summary>Latent side h (16 for 64 px images and a factor-4 VAE).</summary>
    public int SampleSize { get; init; } = 16;

    /// <summary>Channels per level; each level after the first halves the side.</summary>
    public int[] BlockOutChannels { get; init; } = [64, 128, 128];

    /// <summary>GroupNorm groups (32 divides every width here, diffusers' default).</summary>
    public int NormNumGroups { get; init; } = 32;

    /// <summary>Width of the time embedding (4 x C0, as the U-Net).</summary>
    public int TimeEmbedDim { get; init; } = 256;

    /// <summary>The number of classes; equals the length of <c>classes.json</c>.</summary>
    public int NumClasses { get; init; } = 1;

    /// <summary>A 2-level, 16-32 channel classifier for tests.</summary>
    public static NoisyLatentClassifierConfig Tiny(int classes, int inChannels = 4, int sampleSize = 4) => new()
    {
        InChannels = inChannels, SampleSize = sampleSize, BlockOutChannels = [16, 32], NormNumGroups = 8, TimeEmbedDim = 32, NumClasses = classes,
    };

    /// <summary>Checks every value; the message names it and what is expected.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        if (InChannels < 1) throw new ArgumentException($"classifier config: in_channels is {InChannels}; expected >= 1.");
        if (BlockOutChannels is null || BlockOutChannels.Length == 0)
            throw new ArgumentException("classifier config: block_out_channels is empty; expected e.g. [64, 128, 128].");
        if (NormNumGroups < 1) throw new ArgumentException($"classifier config: norm_num_groups is {NormNumGroups}; expected >= 1.");
        foreach (int c in BlockOutChannels)
            if (c < 1 || c % NormNumGroups != 0)
                throw new ArgumentException($"classifier config: block_out_channels has {c}; expected positive multiples of norm_num_groups ({NormNumGroups}).");
        int reduction = 1 << (BlockOutChannels.Length - 1);
        if (SampleSize < reduction || SampleSize % reduction != 0)
            throw new ArgumentException($"classifier config: sample_size is {SampleSize}; expected a multiple of {reduction} for {BlockOutChannels.Length} levels.");
        if (TimeEmbedDim < 2 || TimeEmbedDim % 2 != 0) throw new ArgumentException($"classifier config: time_embed_dim is {TimeEmbedDim}; expected an even number >= 2.");
        if (NumClasses < 1) throw new ArgumentException($"classifier config: num_classes is {NumClasses}; expected >= 1.");
    }
}
