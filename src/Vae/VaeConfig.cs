using System.Text.Json.Serialization;
using Latent.Core.Config;

namespace Latent.Vae;

/// <summary>
/// diffusers' <c>AutoencoderKL</c> config (a VAE folder's <c>config.json</c>), with diffusers' key names and defaults.
/// </summary>
/// <remarks>
/// <para>The encoder has one level per entry of <see cref="BlockOutChannels"/>; every level but the last halves H and
/// W, so an image of <see cref="SampleSize"/> pixels becomes latents of <c>SampleSize / DownsampleFactor</c> with
/// <see cref="LatentChannels"/> channels, where <c>DownsampleFactor = 2^(levels - 1)</c> (8 for SD 1.x's 4 levels).</para>
/// <para>A property left out of a file takes diffusers' <c>__init__</c> default, as diffusers does. Call
/// <see cref="Validate"/> (the model's constructor does) before building a model from a hand-made config.</para>
/// </remarks>
public sealed record VaeConfig : DiffusersConfig
{
    /// <summary>The class name diffusers records in <c>_class_name</c>.</summary>
    public const string ClassNameValue = "AutoencoderKL";

    /// <summary>The only down block type of AutoencoderKL: resnets then a stride-2 conv (see <see cref="DownEncoderBlock2D"/>).</summary>
    public const string DownEncoderBlockType = "DownEncoderBlock2D";

    /// <summary>The only up block type of AutoencoderKL: resnets then nearest 2x + conv (see <see cref="UpDecoderBlock2D"/>).</summary>
    public const string UpDecoderBlockType = "UpDecoderBlock2D";

    /// <summary><c>in_channels</c>: image channels of the encoder input (3 for RGB).</summary>
    [JsonPropertyName("in_channels")] public int InChannels { get; init; } = 3;

    /// <summary><c>out_channels</c>: image channels of the decoder output (3 for RGB).</summary>
    [JsonPropertyName("out_channels")] public int OutChannels { get; init; } = 3;

    /// <summary><c>down_block_types</c>: one <c>"DownEncoderBlock2D"</c> per level (the only type AutoencoderKL uses).</summary>
    [JsonPropertyName("down_block_types")] public string[] DownBlockTypes { get; init; } = [DownEncoderBlockType];

    /// <summary><c>up_block_types</c>: one <c>"UpDecoderBlock2D"</c> per level.</summary>
    [JsonPropertyName("up_block_types")] public string[] UpBlockTypes { get; init; } = [UpDecoderBlockType];

    /// <summary><c>block_out_channels</c>: channels per level, from full resolution down (SD 1.x: 128, 256, 512, 512).</summary>
    [JsonPropertyName("block_out_channels")] public int[] BlockOutChannels { get; init; } = [64];

    /// <summary><c>layers_per_block</c>: ResNet blocks per encoder level; each decoder level has one more (SD 1.x: 2).</summary>
    [JsonPropertyName("layers_per_block")] public int LayersPerBlock { get; init; } = 1;

    /// <summary><c>act_fn</c>: the activation; only <c>"silu"</c> (alias <c>"swish"</c>) is supported, as in every SD VAE.</summary>
    [JsonPropertyName("act_fn")] public string ActFn { get; init; } = "silu";

    /// <summary><c>latent_channels</c>: channels of the latent z (4 in SD 1.x, and what our U-Net expects).</summary>
    [JsonPropertyName("latent_channels")] public int LatentChannels { get; init; } = 4;

    /// <summary><c>norm_num_groups</c>: GroupNorm groups everywhere; must divide every entry of <see cref="BlockOutChannels"/>.</summary>
    [JsonPropertyName("norm_num_groups")] public int NormNumGroups { get; init; } = 32;

    /// <summary><c>sample_size</c>: the image side the VAE is made for (pixels); a multiple of <see cref="DownsampleFactor"/>.</summary>
    [JsonPropertyName("sample_size")] public int SampleSize { get; init; } = 32;

    /// <summary>
    /// <c>scaling_factor</c>: the U-Net sees <c>z * scaling_factor</c> so that latents have roughly unit variance
    /// (SD 1.x's 0.18215, which was measured on its own VAE; a VAE trained here should measure its own).
    /// </summary>
    [JsonPropertyName("scaling_factor")] public double ScalingFactor { get; init; } = 0.18215;

    /// <summary>
    /// <c>force_upcast</c>: whether a pipeline must run this VAE in float32 even when the rest runs in half precision
    /// (diffusers' flag; the model itself ignores it).
    /// </summary>
    [JsonPropertyName("force_upcast")] public bool ForceUpcast { get; init; } = true;

    /// <summary>How many times smaller the latents are than the image per side: 2^(levels - 1).</summary>
    [JsonIgnore] public int DownsampleFactor => 1 << Math.Max(BlockOutChannels.Length - 1, 0);

    /// <summary>The latent side for an image of <see cref="SampleSize"/> pixels.</summary>
    [JsonIgnore] public int LatentSize => SampleSize / DownsampleFactor;

    /// <summary>
    /// A VAE for unit tests: two levels of 8 and 16 channels, one ResNet per level, 4 groups; 16x16 images to 8x8x4
    /// latents; ~30 k parameters, a forward in milliseconds.
    /// </summary>
    public static VaeConfig Tiny { get; } = new()
    {
        ClassName = ClassNameValue,
        DownBlockTypes = [DownEncoderBlockType, DownEncoderBlockType],
        UpBlockTypes = [UpDecoderBlockType, UpDecoderBlockType],
        BlockOutChannels = [8, 16],
        LayersPerBlock = 1,
        NormNumGroups = 4,
        SampleSize = 16,
    };

    /// <summary>
    /// Our product's VAE: 64x64x3 images to 16x16x4 latents (factor 4, three levels), about 5 M parameters.
    /// </summary>
    /// <remarks>
    /// The shape of SD 1.x's VAE scaled to small images: the widths 64, 128, 128 repeat the last width as SD's
    /// 128, 256, 512, 512 does, and two ResNets per encoder level (three per decoder level) keep SD's depth, which
    /// matters more for reconstruction than width. 64 channels at full resolution keep the 64x64 convolutions, which
    /// dominate the cost, cheap on CPU; 128 at 32x32 and 16x16 give the mid-block attention (256 positions) enough
    /// width. Going to 256 channels at the last level would double the parameters (~11 M) for little gain at 64 px.
    /// 32 groups divide every width, as in SD. The scaling factor stays SD's until our trained VAE measures its own.
    /// </remarks>
    public static VaeConfig Default { get; } = new()
    {
        ClassName = ClassNameValue,
        DownBlockTypes = [DownEncoderBlockType, DownEncoderBlockType, DownEncoderBlockType],
        UpBlockTypes = [UpDecoderBlockType, UpDecoderBlockType, UpDecoderBlockType],
        BlockOutChannels = [64, 128, 128],
        LayersPerBlock = 2,
        NormNumGroups = 32,
        SampleSize = 64,
    };

    /// <summary>
    /// The VAE we train on 2 cores: <see cref="Default"/>'s three levels (64x64x3 to 16x16x4) at half the width,
    /// 32, 64, 64 channels, two ResNets per level, 16 groups; about 1.3 M parameters.
    /// </summary>
    /// <remarks>
    /// A training step costs what the convolutions at 64x64 cost, and those scale with the square of the first width:
    /// halving every width quarters them. Measured on 2 cores (fp32, batch 16, forward + backward + AdamW):
    /// <see cref="Default"/> 3.5 s a step (4.6 images/s; encoder 0.70 s, decoder 0.96 s, backward 1.85 s), Light 0.80 s
    /// (20 images/s; 0.09, 0.18, 0.53 s): 4.4x faster, which buys four times the epochs in the same hour, and more
    /// epochs matter more than width for
    /// reconstructing flat emoji. 16 groups keep <see cref="Default"/>'s 2 channels per group at full resolution and 4
    /// below (32 groups would leave one channel per group, an instance norm that erases each channel's mean colour); the
    /// attention of the mid-block runs on 256 positions of 64 channels.
    /// </remarks>
    public static VaeConfig Light { get; } = Default with { BlockOutChannels = [32, 64, 64], NormNumGroups = 16 };

    /// <summary>Checks every rule the model relies on.</summary>
    /// <param name="sourceName">Names the config in errors (the file path, or the record's name).</param>
    /// <exception cref="ConfigException">A value is out of range or inconsistent; the message names the key, the value and what was expected.</exception>
    public void Validate(string sourceName = nameof(VaeConfig))
    {
        Positive(sourceName, "in_channels", InChannels);
        Positive(sourceName, "out_channels", OutChannels);
        Positive(sourceName, "latent_channels", LatentChannels);
        Positive(sourceName, "layers_per_block", LayersPerBlock);
        Positive(sourceName, "norm_num_groups", NormNumGroups);
        Positive(sourceName, "sample_size", SampleSize);
        if (BlockOutChannels is null || BlockOutChannels.Length == 0)
            throw new ConfigException(sourceName, "block_out_channels", "is empty; expected at least one level.");
        ConfigLimits.AtMost(sourceName, "in_channels", InChannels, ConfigLimits.MaxImageChannels);
        ConfigLimits.AtMost(sourceName, "out_channels", OutChannels, ConfigLimits.MaxImageChannels);
        ConfigLimits.AtMost(sourceName, "latent_channels", LatentChannels, ConfigLimits.MaxImageChannels);
        ConfigLimits.AtMost(sourceName, "layers_per_block", LayersPerBlock, ConfigLimits.MaxLayersPerBlock);
        ConfigLimits.AtMost(sourceName, "sample_size", SampleSize, ConfigLimits.MaxSampleSize);
        ConfigLimits.AtMost(sourceName, "block_out_channels", BlockOutChannels.Length, ConfigLimits.MaxLevels);
        ConfigLimits.AllAtMost(sourceName, "block_out_channels", BlockOutChannels, ConfigLimits.MaxWidth);
        foreach (int c in BlockOutChannels)
        {
            if (c <= 0 || c % NormNumGroups != 0)
                throw new ConfigException(sourceName, "block_out_channels",
                    $"[{string.Join(", ", BlockOutChannels)}] holds {c}; expected positive multiples of norm_num_groups = {NormNumGroups}.");
        }
        CheckTypes(sourceName, "down_block_types", DownBlockTypes, DownEncoderBlockType);
        CheckTypes(sourceName, "up_block_types", UpBlockTypes, UpDecoderBlockType);
        if (ActFn is not ("silu" or "swish"))
            throw new ConfigException(sourceName, "act_fn", $"\"{ActFn}\" is not supported; expected \"silu\" (or its alias \"swish\").");
        if (SampleSize % DownsampleFactor != 0)
            throw new ConfigException(sourceName, "sample_size",
                $"{SampleSize} is not divisible by the downsample factor {DownsampleFactor} ({BlockOutChannels.Length} levels); expected a multiple of it.");
        // Published VAEs use 0.13 to 1.5; a factor outside [1e-3, 1e3] turns unit-variance latents into nothing or overflow.
        if (!double.IsFinite(ScalingFactor) || ScalingFactor < MinScalingFactor || ScalingFactor > MaxScalingFactor)
            throw new ConfigException(sourceName, "scaling_factor",
                $"{ScalingFactor} is not a finite number in [{MinScalingFactor}, {MaxScalingFactor}]; expected e.g. 0.18215 (SD 1.x).");
    }

    /// <summary>The smallest <c>scaling_factor</c> accepted: 1e-3 (published VAEs: 0.13 to 1.5).</summary>
    public const double MinScalingFactor = 1e-3;

    /// <summary>The largest <c>scaling_factor</c> accepted: 1e3.</summary>
    public const double MaxScalingFactor = 1e3;

    private void CheckTypes(string sourceName, string key, string[]? types, string expected)
    {
        if (types is null || types.Length != BlockOutChannels.Length)
            throw new ConfigException(sourceName, key,
                $"has {types?.Length ?? 0} entries; expected {BlockOutChannels.Length}, one per entry of block_out_channels.");
        foreach (string type in types)
        {
            if (type != expected)
                throw new ConfigException(sourceName, key, $"holds \"{type}\"; expected only \"{expected}\" (the AutoencoderKL block).");
        }
    }

    private static void Positive(string sourceName, string key, int value)
    {
        if (value <= 0)
            throw new ConfigException(sourceName, key, $"{value} is not positive; expected a value > 0.");
    }
}
