using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Latent.Core.Config;

/// <summary>
/// A pipeline's model_index.json: the pipeline class (<c>_class_name</c>, e.g. StableDiffusionPipeline), the diffusers
/// version, and one entry per component folder, <c>"vae": ["diffusers", "AutoencoderKL"]</c>.
/// </summary>
/// <remarks>
/// As diffusers does, every key whose value is a two-item array of strings or nulls is a component; other keys
/// (e.g. <c>requires_safety_checker</c>) are properties or, when unknown, kept in <see cref="JsonConfig.ExtensionData"/>.
/// Read and write it with <see cref="ConfigFile"/>: <c>ConfigFile.Read&lt;ModelIndex&gt;(path)</c>.
/// </remarks>
public sealed record ModelIndex : DiffusersConfig
{
    IReadOnlyList<PipelineComponent> components = [];

    /// <summary>The components in file order (diffusers writes them sorted by name).</summary>
    [JsonIgnore]
    public IReadOnlyList<PipelineComponent> Components { get => components; init => components = value; }

    /// <summary><c>requires_safety_checker</c>: whether the pipeline refuses to run without its safety checker; not written when null.</summary>
    [JsonPropertyName("requires_safety_checker"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? RequiresSafetyChecker { get; init; }

    /// <summary>The component named <paramref name="name"/> (e.g. "unet"), or null when the pipeline has none.</summary>
    /// <param name="name">The component's folder name.</param>
    public PipelineComponent? Find(string name) => components.FirstOrDefault(c => c.Name == name);

    internal override void AfterRead()
    {
        var found = new List<PipelineComponent>();
        foreach ((string key, JsonElement value) in ExtensionData)
        {
            if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != 2) continue;
            JsonElement library = value[0], type = value[1];
            if (!IsStringOrNull(library) || !IsStringOrNull(type)) continue;
            found.Add(new PipelineComponent(key, library.GetString(), type.GetString()));
        }
        foreach (PipelineComponent c in found) ExtensionData.Remove(c.Name);
        components = found;
    }

    internal override void BeforeWrite(JsonObject json)
    {
        foreach (PipelineComponent c in components)
        {
            if (json.ContainsKey(c.Name))
                throw new ArgumentException($"ModelIndex: component \"{c.Name}\" clashes with another key of the same name.");
            json[c.Name] = new JsonArray(JsonValue.Create(c.Library), JsonValue.Create(c.ClassName));
        }
    }

    static bool IsStringOrNull(JsonElement e) => e.ValueKind is JsonValueKind.String or JsonValueKind.Null;
}

/// <summary>One component of a pipeline: its folder and the class that loads it.</summary>
/// <param name="Name">The key and folder name (e.g. "vae", "text_encoder").</param>
/// <param name="Library">The library of the class ("diffusers", "transformers"), or null for an absent component.</param>
/// <param name="ClassName">The class (e.g. "AutoencoderKL", "CLIPTextModel"), or null for an absent component (a pipeline saved without its safety checker has <c>[null, null]</c>).</param>
public sealed record PipelineComponent(string Name, string? Library, string? ClassName);
