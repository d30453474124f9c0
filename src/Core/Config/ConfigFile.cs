using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Latent.Core.IO;

namespace Latent.Core.Config;

/// <summary>
/// Reads and writes diffusers' and transformers' JSON config files (config.json, scheduler_config.json,
/// model_index.json) into config records, with the files' own key names and layout.
/// </summary>
/// <remarks>
/// <para>Reading accepts what Python's <c>json</c> writes, bare <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c> included
/// (see <see cref="PythonJson"/>). Keys match exactly (case-sensitive); a property without
/// <see cref="JsonPropertyNameAttribute"/> gets its snake_case name (<c>BlockOutChannels</c> is
/// <c>block_out_channels</c>); enums are read and written as snake_case strings (<c>VPrediction</c> is
/// <c>"v_prediction"</c>; <c>[JsonStringEnumMemberName]</c> overrides). A <c>null</c> is accepted only where the property
/// is nullable (<c>double[]?</c>, <c>int?</c>).</para>
/// <para>Unknown keys are returned in <see cref="ConfigRead{T}.UnknownKeys"/> rather than pushed to a callback: the
/// library has no logger, a returned list is reported exactly once by construction, and tests and the loader can act on
/// it (the CLI prints <see cref="ConfigRead{T}.Warning"/>). They are kept in <see cref="JsonConfig.ExtensionData"/> and
/// written back.</para>
/// <para>Writing matches diffusers' <c>ConfigMixin.to_json_string</c> and transformers' <c>PretrainedConfig</c>:
/// <c>json.dumps(config, indent=2, sort_keys=True) + "\n"</c>. Integer properties are written as integers
/// (<c>1000</c>); <see cref="double"/> properties as Python floats (<c>1.0</c>, <c>1e-05</c>, exact round trip), so a
/// float key that the file held as an integer (diffusers' <c>"mid_block_scale_factor": 1</c>) comes back as
/// <c>1.0</c>, which Python reads as the same number. Unknown keys keep their raw text, <c>1</c> or <c>1.0</c> alike.
/// Declare float keys as <see cref="double"/> (Python's float), not <see cref="float"/>.</para>
/// </remarks>
public static class ConfigFile
{
    static readonly JsonSerializerOptions Options = CreateOptions();

    static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            PropertyNameCaseInsensitive = false,
            RespectNullableAnnotations = true,
            NumberHandling = JsonNumberHandling.Strict,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
            Converters =
            {
                new PythonFloatConverter(),
                new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false),
            },
        };
        options.MakeReadOnly();
        return options;
    }

    /// <summary>Reads the config file at <paramref name="path"/> into <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The config record (a <see cref="DiffusersConfig"/>, <see cref="TransformersConfig"/> or <see cref="ModelIndex"/>).</typeparam>
    /// <param name="path">The file, e.g. <c>vae/config.json</c>.</param>
    /// <param name="expectedClassName">
    /// When given, the class the file must describe: compared with <c>_class_name</c> (diffusers) or looked for in
    /// <c>architectures</c> (transformers). A file without that key passes, as diffusers does not require it.
    /// </param>
    /// <returns>The config and its unknown keys.</returns>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="ConfigException">The file is not valid JSON, not an object, describes another class, or a key holds a value of the wrong type.</exception>
    public static ConfigRead<T> Read<T>(string path, string? expectedClassName = null) where T : JsonConfig
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            string hint = Directory.Exists(path) ? " It is a directory; pass the JSON file inside it (e.g. config.json)." : "";
            throw new FileNotFoundException($"Config file not found: '{Path.GetFullPath(path)}'.{hint}", path);
        }
        FileKind.RequireRegularForRead(path, "config file");
        return ReadText<T>(File.ReadAllText(path), path, expectedClassName);
    }

    /// <summary>Reads config JSON text into <typeparamref name="T"/>.</summary>
    /// <typeparam name="T">The config record.</typeparam>
    /// <param name="json">The JSON text, as Python writes it.</param>
    /// <param name="sourceName">Names the text in errors and in <see cref="ConfigRead{T}.Warning"/>.</param>
    /// <param name="expectedClassName">As for <see cref="Read{T}"/>.</param>
    /// <returns>The config and its unknown keys.</returns>
    /// <exception cref="ConfigException">As for <see cref="Read{T}"/>.</exception>
    public static ConfigRead<T> ReadText<T>(string json, string sourceName, string? expectedClassName = null) where T : JsonConfig
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(sourceName);
        using JsonDocument document = PythonJson.ParseDocument(json, sourceName);
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new ConfigException(sourceName, null, $"the top level is {root.ValueKind}, expected a JSON object.");
        CheckClass(root, typeof(T), expectedClassName, sourceName);

        T config;
        try
        {
            config = root.Deserialize<T>(Options)!;
        }
        catch (JsonException e)
        {
            throw TypeError(e, root, typeof(T), sourceName);
        }
        config.AfterRead();
        // File order, each key once (the serializer does not promise to fill the bag in file order).
        var unknown = root.EnumerateObject().Select(p => p.Name).Where(config.ExtensionData.ContainsKey).ToList();
        return new ConfigRead<T>(config, unknown, sourceName);
    }

    /// <summary>Writes <paramref name="config"/> to <paramref name="path"/> atomically, as diffusers would (see <see cref="ToJsonText{T}"/>).</summary>
    /// <typeparam name="T">The config record.</typeparam>
    /// <param name="path">The target file; its directory is created when missing.</param>
    /// <param name="config">The config, unknown keys included.</param>
    /// <exception cref="ArgumentException">A key of <see cref="JsonConfig.ExtensionData"/> is also a declared property.</exception>
    public static void Write<T>(string path, T config) where T : JsonConfig
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllText(path, ToJsonText(config));
    }

    /// <summary>
    /// The text <see cref="Write{T}"/> writes: <c>json.dumps(config, indent=2, sort_keys=True) + "\n"</c>, ASCII only,
    /// declared properties and <see cref="JsonConfig.ExtensionData"/> together, non-finite floats as bare tokens.
    /// </summary>
    /// <typeparam name="T">The config record.</typeparam>
    /// <param name="config">The config.</param>
    /// <returns>The file content.</returns>
    /// <exception cref="ArgumentException">A key of <see cref="JsonConfig.ExtensionData"/> is also a declared property.</exception>
    public static string ToJsonText<T>(T config) where T : JsonConfig
    {
        ArgumentNullException.ThrowIfNull(config);
        Type type = config.GetType();
        var declared = Options.GetTypeInfo(type).Properties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string key in config.ExtensionData.Keys)
            if (declared.Contains(key))
                throw new ArgumentException(
                    $"{type.Name}: key \"{key}\" is both a declared property and an ExtensionData entry; remove it from ExtensionData.",
                    nameof(config));

        JsonObject json = JsonSerializer.SerializeToNode(config, type, Options)!.AsObject();
        config.BeforeWrite(json);
        return PythonJson.Format(json, ensureAscii: true) + "\n";
    }

    static void CheckClass(JsonElement root, Type type, string? expected, string sourceName)
    {
        if (expected is null) return;
        if (typeof(TransformersConfig).IsAssignableFrom(type))
        {
            if (!root.TryGetProperty("architectures", out JsonElement a) || a.ValueKind != JsonValueKind.Array) return;
            var names = a.EnumerateArray().Select(n => n.ValueKind == JsonValueKind.String ? n.GetString()! : n.GetRawText()).ToList();
            if (!names.Contains(expected))
                throw new ConfigException(sourceName, "architectures",
                    $"the file describes [{string.Join(", ", names)}], but {expected} was expected.");
            return;
        }
        if (!root.TryGetProperty("_class_name", out JsonElement c)) return;
        string found = c.ValueKind == JsonValueKind.String && c.GetString() is { } name && name is not (PythonJson.NaNMarker or PythonJson.InfinityMarker or PythonJson.NegativeInfinityMarker) ? name : Show(c);
        if (found != expected)
            throw new ConfigException(sourceName, "_class_name", $"the file describes {found}, but {expected} was expected.");
    }

    static ConfigException TypeError(JsonException e, JsonElement root, Type type, string sourceName)
    {
        string? key = TopLevelKey(e.Path);
        if (key is null || !root.TryGetProperty(key, out JsonElement value))
            return new ConfigException(sourceName, key, $"cannot be read as {type.Name}: {e.Message}", e);
        JsonPropertyInfo? property = Options.GetTypeInfo(type).Properties.FirstOrDefault(p => p.Name == key);
        if (property is null)
            return new ConfigException(sourceName, key, $"the value {Show(value)} cannot be read as {type.Name}: {e.Message}", e);
        string member = (property.AttributeProvider as MemberInfo)?.Name ?? property.Name;
        string expected = Describe(property.PropertyType, property.IsSetNullable);
        return new ConfigException(sourceName, key, $"the value {Show(value)} is not {expected}, as {type.Name}.{member} expects.", e);
    }

    /// <summary>The first member of a serializer path: <c>$.a</c>, <c>$.a[1]</c>, <c>$.a.b</c> and <c>$['a b']</c> give a / a b.</summary>
    static string? TopLevelKey(string? path)
    {
        if (path is null || path.Length < 3) return null;
        if (path.StartsWith("$['", StringComparison.Ordinal))
        {
            int end = path.IndexOf("']", 3, StringComparison.Ordinal);
            return end < 0 ? null : path[3..end];
        }
        if (!path.StartsWith("$.", StringComparison.Ordinal)) return null;
        int stop = path.IndexOfAny(['.', '['], 2);
        return stop < 0 ? path[2..] : path[2..stop];
    }

    static string Show(JsonElement value)
    {
        string text = value.ValueKind == JsonValueKind.String && value.GetString() is string s
            ? s switch
            {
                PythonJson.NaNMarker => "NaN",
                PythonJson.InfinityMarker => "Infinity",
                PythonJson.NegativeInfinityMarker => "-Infinity",
                _ => PythonJson.Format(JsonValue.Create(s)),
            }
            : PythonJson.Format(JsonNode.Parse(value.GetRawText())).ReplaceLineEndings(" ");
        while (text.Contains("  ", StringComparison.Ordinal)) text = text.Replace("  ", " ", StringComparison.Ordinal);
        text = text.Replace("[ ", "[", StringComparison.Ordinal).Replace(" ]", "]", StringComparison.Ordinal)
            .Replace("{ ", "{", StringComparison.Ordinal).Replace(" }", "}", StringComparison.Ordinal);
        return text.Length <= 80 ? text : text[..77] + "...";
    }

    static string Describe(Type type, bool nullable)
    {
        if (Nullable.GetUnderlyingType(type) is Type inner) return Describe(inner, false) + " or null";
        string text = type switch
        {
            _ when type == typeof(string) => "a string",
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number",
            _ when type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(byte)
                || type == typeof(uint) || type == typeof(ulong) || type == typeof(ushort) || type == typeof(sbyte)
                => $"an integer ({type.Name})",
            _ when type.IsEnum => "one of " + string.Join(", ",
                Enum.GetValues(type).Cast<object>().Select(v => JsonSerializer.Serialize(v, type, Options))),
            _ when ElementType(type) is Type element => $"an array (each item {Describe(element, false)})",
            _ => $"a {type.Name}",
        };
        return nullable && !type.IsValueType ? text + " or null" : text;
    }

    static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.GetInterfaces().Append(type)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))
            ?.GetGenericArguments()[0];
}
