using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Latent.Core.Config;

/// <summary>
/// The base of every config record read from or written to a JSON file by <see cref="ConfigFile"/>: it keeps each key
/// that the record does not declare, with its raw JSON, so that writing the record back reproduces the file.
/// </summary>
/// <remarks>
/// Derive from <see cref="DiffusersConfig"/> (diffusers' config.json and scheduler_config.json) or
/// <see cref="TransformersConfig"/> (transformers' config.json), not from this type directly.
/// </remarks>
public abstract record JsonConfig
{
    /// <summary>
    /// The keys of the file that the record does not declare, each with its raw JSON value (numbers keep their text:
    /// <c>1.0</c> stays <c>1.0</c>; Python's bare <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c> are held as the marker
    /// strings of <see cref="PythonJson"/>). <see cref="ConfigFile.Write{T}"/> writes them back.
    /// </summary>
    /// <remarks>
    /// The dictionary is shared by copies made with <c>with</c>; treat it as read-only, or give the copy a new one.
    /// </remarks>
    [JsonExtensionData]
    public Dictionary<string, JsonElement> ExtensionData { get; init; } = [];

    /// <summary>Runs after deserialization, before the unknown keys are collected (a record may claim some of them).</summary>
    internal virtual void AfterRead() { }

    /// <summary>Runs after serialization to <paramref name="json"/>, before formatting (a record may add keys).</summary>
    internal virtual void BeforeWrite(JsonObject json) { }
}
