using System.Text.Json.Serialization;

namespace Latent.Core.Config;

/// <summary>
/// A diffusers config file (a model's config.json, a scheduler's scheduler_config.json, a pipeline's
/// model_index.json): the metadata keys diffusers adds, and every other key kept in <see cref="JsonConfig.ExtensionData"/>.
/// </summary>
/// <remarks>
/// A model's config record derives from this and declares its keys with diffusers' names:
/// <code>
/// public sealed record VaeConfig : DiffusersConfig
/// {
///     /// &lt;summary&gt;Channels per resolution level ...&lt;/summary&gt;
///     [JsonPropertyName("block_out_channels")] public int[] BlockOutChannels { get; init; } = [64, 128];
/// }
/// </code>
/// and reads itself with <c>ConfigFile.Read&lt;VaeConfig&gt;(path, expectedClassName: "AutoencoderKL")</c>.
/// Reading the base type itself gives a raw view: every model key is then an unknown key, kept as-is.
/// </remarks>
public record DiffusersConfig : JsonConfig
{
    /// <summary>
    /// <c>_class_name</c>: the diffusers class the file describes (AutoencoderKL, UNet2DConditionModel, DDIMScheduler,
    /// StableDiffusionPipeline). Null when the file has none; then it is not written.
    /// </summary>
    [JsonPropertyName("_class_name"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ClassName { get; init; }

    /// <summary><c>_diffusers_version</c>: the diffusers version that wrote the file (e.g. "0.21.4"); not written when null.</summary>
    [JsonPropertyName("_diffusers_version"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DiffusersVersion { get; init; }

    /// <summary><c>_name_or_path</c>: the hub id or folder the model was loaded from, when the file records it; not written when null.</summary>
    [JsonPropertyName("_name_or_path"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? NameOrPath { get; init; }
}
