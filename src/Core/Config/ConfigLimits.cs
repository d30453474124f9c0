namespace Latent.Core.Config;

/// <summary>
/// Upper bounds on config values that size a model or a table, checked by each config's <c>Validate</c> before anything
/// is built: a config asking for a million channels or a billion timesteps is refused with one line naming the file and
/// the key, instead of reaching the allocator (issue 21 item 2).
/// </summary>
/// <remarks>
/// Each bound is far above every published model of the family (SD 1.x-XL: 1280 channels, 2-10 layers per block, CLIP
/// ViT-bigG: 1280 wide, 32 layers, 49,408 tokens; 1000 timesteps), so no real config meets one; what a bound stops is a
/// typo or a hostile file. The memory check in the pipeline (<c>ResourceEstimate</c>) covers what is within the bounds but
/// still too large for this machine.
/// </remarks>
public static class ConfigLimits
{
    /// <summary>Channels of one level, a hidden or cross-attention width: 16,384 (SD uses at most 1,280; CLIP bigG 1,280).</summary>
    public const int MaxWidth = 16_384;

    /// <summary>A feed-forward (intermediate) width: 65,536 (CLIP bigG: 5,120).</summary>
    public const int MaxIntermediate = 65_536;

    /// <summary>Resolution levels of a U-Net or VAE: 8 (SD: 4).</summary>
    public const int MaxLevels = 8;

    /// <summary>Layers per block or transformer layers per block: 64 (SDXL: 10).</summary>
    public const int MaxLayersPerBlock = 64;

    /// <summary>Transformer layers of a text encoder: 256 (CLIP bigG: 32).</summary>
    public const int MaxHiddenLayers = 256;

    /// <summary>Attention heads: 1,024.</summary>
    public const int MaxHeads = 1_024;

    /// <summary>Input, output or latent channels of an image model: 64 (SD: 3 and 4; SD3: 16).</summary>
    public const int MaxImageChannels = 64;

    /// <summary>A vocabulary: 1,048,576 tokens (CLIP: 49,408; T5: 32,128).</summary>
    public const int MaxVocabulary = 1 << 20;

    /// <summary>Token positions: 8,192 (CLIP: 77).</summary>
    public const int MaxPositions = 8_192;

    /// <summary>Training timesteps of a noise schedule: 100,000 (every diffusers scheduler config: 1,000).</summary>
    public const int MaxTrainTimesteps = 100_000;

    /// <summary>A sample_size in pixels or latent pixels: 16,384.</summary>
    public const int MaxSampleSize = 16_384;

    /// <summary>A convolution kernel side: 15.</summary>
    public const int MaxKernel = 15;

    /// <summary>Throws <see cref="ConfigException"/> naming <paramref name="key"/> when <paramref name="value"/> is above <paramref name="max"/>.</summary>
    /// <param name="sourceName">The config file (or record name) for the message.</param>
    /// <param name="key">The config key.</param>
    /// <param name="value">The value read.</param>
    /// <param name="max">The largest value accepted (one of this class's constants).</param>
    public static void AtMost(string sourceName, string key, long value, long max)
    {
        if (value > max)
            throw new ConfigException(sourceName, key, $"{value} is larger than this port accepts for it; expected at most {max}.");
    }

    /// <summary><see cref="AtMost"/> for every entry of a per-level list.</summary>
    public static void AllAtMost(string sourceName, string key, IEnumerable<int> values, long max)
    {
        foreach (int v in values) AtMost(sourceName, key, v, max);
    }
}
