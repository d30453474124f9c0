using System.Text.Json.Serialization;

namespace Latent.Core.Config;

/// <summary>
/// A transformers config.json (the text encoder's): the metadata keys transformers adds, and every other key kept in
/// <see cref="JsonConfig.ExtensionData"/>. A text-encoder config record derives from this and declares its keys.
/// </summary>
/// <remarks>
/// When a caller passes an expected class to <see cref="ConfigFile.Read{T}"/>, it is looked for in
/// <see cref="Architectures"/> (transformers has no <c>_class_name</c>).
/// </remarks>
public record TransformersConfig : JsonConfig
{
    /// <summary><c>architectures</c>: the model classes the weights were saved from (e.g. ["CLIPTextModel"]); not written when null.</summary>
    [JsonPropertyName("architectures"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string[]? Architectures { get; init; }

    /// <summary><c>model_type</c>: transformers' config family (e.g. "clip_text_model"); not written when null.</summary>
    [JsonPropertyName("model_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ModelType { get; init; }

    /// <summary><c>torch_dtype</c>: the dtype of the saved weights (e.g. "float32", "float16"); not written when null.</summary>
    [JsonPropertyName("torch_dtype"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TorchDtype { get; init; }

    /// <summary><c>transformers_version</c>: the transformers version that wrote the file; not written when null.</summary>
    [JsonPropertyName("transformers_version"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TransformersVersion { get; init; }

    /// <summary><c>_name_or_path</c>: the hub id or folder the model was loaded from, when the file records it; not written when null.</summary>
    [JsonPropertyName("_name_or_path"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? NameOrPath { get; init; }
}
