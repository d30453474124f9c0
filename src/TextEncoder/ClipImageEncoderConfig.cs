using System.Text.Json.Serialization;
using Latent.Core.Config;

namespace Latent.TextEncoder;

/// <summary>
/// <c>image_encoder/config.json</c> of a trained CLIP: the image tower (<see cref="ClipImageTowerConfig"/>) with diffusers'
/// snake_case keys, plus the projection width, so that <c>image_encoder/</c> and <c>text_encoder/</c> together rebuild the
/// whole <see cref="ClipModel"/> (see <see cref="ClipModelFolder"/>).
/// </summary>
public sealed record ClipImageEncoderConfig : DiffusersConfig
{
    /// <summary>The <c>_class_name</c> written and expected (ours: no diffusers class has this layout).</summary>
    public const string ClassNameValue = "LatentClipImageEncoder";

    /// <summary><c>image_size</c>: side of the square input images in pixels.</summary>
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 64;

    /// <summary><c>in_channels</c>: channels of the input images (3, RGB).</summary>
    [JsonPropertyName("in_channels")] public int InChannels { get; init; } = 3;

    /// <summary><c>conv_in_stride</c>: stride of the first convolution (1 or 2; 1 when absent, as files written before it).</summary>
    [JsonPropertyName("conv_in_stride")] public int ConvInStride { get; init; } = 1;

    /// <summary><c>block_out_channels</c>: channels of each stage of the ResNet tower.</summary>
    [JsonPropertyName("block_out_channels")] public int[] BlockOutChannels { get; init; } = [32, 64, 128, 256];

    /// <summary><c>layers_per_block</c>: residual blocks per stage.</summary>
    [JsonPropertyName("layers_per_block")] public int LayersPerBlock { get; init; } = 1;

    /// <summary><c>norm_num_groups</c>: GroupNorm groups.</summary>
    [JsonPropertyName("norm_num_groups")] public int NormNumGroups { get; init; } = 8;

    /// <summary><c>norm_eps</c>: GroupNorm epsilon.</summary>
    [JsonPropertyName("norm_eps")] public double NormEps { get; init; } = 1e-6;

    /// <summary><c>projection_dim</c>: width P of the joint space (<c>visual_projection</c> maps the tower's width to it); must equal the text config's.</summary>
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 256;

    /// <summary>The tower's config.</summary>
    public ClipImageTowerConfig ToTower() => new()
    {
        ImageSize = ImageSize,
        InChannels = InChannels,
        ConvInStride = ConvInStride,
        BlockOutChannels = BlockOutChannels,
        LayersPerBlock = LayersPerBlock,
        NormNumGroups = NormNumGroups,
        NormEps = NormEps,
    };

    /// <summary>The file's record for a tower and a projection width.</summary>
    public static ClipImageEncoderConfig From(ClipImageTowerConfig tower, int projectionDim)
    {
        ArgumentNullException.ThrowIfNull(tower);
        return new()
        {
            ClassName = ClassNameValue,
            ImageSize = tower.ImageSize,
            InChannels = tower.InChannels,
            ConvInStride = tower.ConvInStride,
            BlockOutChannels = tower.BlockOutChannels,
            LayersPerBlock = tower.LayersPerBlock,
            NormNumGroups = tower.NormNumGroups,
            NormEps = tower.NormEps,
            ProjectionDim = projectionDim,
        };
    }
}
