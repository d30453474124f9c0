using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.IO;

namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// The special tokens and the length limit of a CLIP tokenizer: what transformers keeps in
/// <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c>. The defaults are CLIP's (and SD 1.x's).
/// </summary>
public sealed record ClipTokenizerOptions
{
    /// <summary>The token every sequence starts with (<c>bos_token</c>); CLIP's is <c>&lt;|startoftext|&gt;</c>.</summary>
    public string BosToken { get; init; } = "<|startoftext|>";

    /// <summary>The token every sequence ends with (<c>eos_token</c>); CLIP pools its text embedding there.</summary>
    public string EosToken { get; init; } = "<|endoftext|>";

    /// <summary>The id given to a BPE piece missing from the vocabulary (<c>unk_token</c>); CLIP reuses the eos token.</summary>
    public string UnkToken { get; init; } = "<|endoftext|>";

    /// <summary>
    /// The padding token (<c>pad_token</c>): <c>&lt;|endoftext|&gt;</c> in SD 1.x (padding with eos), <c>!</c> (id 0)
    /// in SD 2.x.
    /// </summary>
    public string PadToken { get; init; } = "<|endoftext|>";

    /// <summary>The longest sequence the text encoder takes, bos and eos included (<c>model_max_length</c>): CLIP's 77 positions.</summary>
    public int ModelMaxLength { get; init; } = 77;

    /// <summary>
    /// Whether <see cref="ClipTokenizer.Decode"/> removes the space before punctuation and contractions by default
    /// (<c>clean_up_tokenization_spaces</c>); transformers' CLIP configs say true.
    /// </summary>
    public bool CleanUpTokenizationSpaces { get; init; } = true;

    /// <summary>
    /// Reads the options from a transformers tokenizer folder: <c>tokenizer_config.json</c> first, then
    /// <c>special_tokens_map.json</c>, whose entries win (as in transformers' <c>from_pretrained</c>). Missing files
    /// and keys keep the defaults; a token may be a plain string or an AddedToken object with a <c>content</c>.
    /// A <c>model_max_length</c> above <see cref="int.MaxValue"/> (transformers writes 1e30 for "no limit") becomes
    /// <see cref="int.MaxValue"/>.
    /// </summary>
    /// <param name="directory">The tokenizer folder.</param>
    /// <exception cref="ConfigException">A file is not valid JSON or a key has the wrong type.</exception>
    public static ClipTokenizerOptions Read(string directory)
    {
        var options = new ClipTokenizerOptions();
        foreach (string name in new[] { "tokenizer_config.json", "special_tokens_map.json" })
        {
            string path = Path.Combine(directory, name);
            if (!File.Exists(path)) continue;
            FileKind.RequireRegularForRead(path, "tokenizer config");
            if (PythonJson.Parse(File.ReadAllText(path), path) is not JsonObject json)
                throw new ConfigException(path, null, "expected a JSON object at the top level");
            options = options with
            {
                BosToken = ReadToken(json, "bos_token", path) ?? options.BosToken,
                EosToken = ReadToken(json, "eos_token", path) ?? options.EosToken,
                UnkToken = ReadToken(json, "unk_token", path) ?? options.UnkToken,
                PadToken = ReadToken(json, "pad_token", path) ?? options.PadToken,
                ModelMaxLength = ReadMaxLength(json, path) ?? options.ModelMaxLength,
                CleanUpTokenizationSpaces = ReadBool(json, "clean_up_tokenization_spaces", path) ?? options.CleanUpTokenizationSpaces,
            };
        }
        return options;
    }

    /// <summary>The options as transformers writes <c>tokenizer_config.json</c> (version 4.33, CLIPTokenizer).</summary>
    internal JsonObject ToTokenizerConfig() => new()
    {
        ["bos_token"] = AddedToken(BosToken, withType: true),
        ["clean_up_tokenization_spaces"] = CleanUpTokenizationSpaces,
        ["eos_token"] = AddedToken(EosToken, withType: true),
        ["errors"] = "replace",
        ["model_max_length"] = ModelMaxLength,
        ["pad_token"] = PadToken,
        ["tokenizer_class"] = "CLIPTokenizer",
        ["unk_token"] = AddedToken(UnkToken, withType: true),
    };

    /// <summary>The options as transformers writes <c>special_tokens_map.json</c>.</summary>
    internal JsonObject ToSpecialTokensMap() => new()
    {
        ["bos_token"] = AddedToken(BosToken, withType: false),
        ["eos_token"] = AddedToken(EosToken, withType: false),
        ["pad_token"] = PadToken,
        ["unk_token"] = AddedToken(UnkToken, withType: false),
    };

    static JsonObject AddedToken(string content, bool withType)
    {
        var token = new JsonObject();
        if (withType) token["__type"] = "AddedToken";
        token["content"] = content;
        token["lstrip"] = false;
        token["normalized"] = true;
        token["rstrip"] = false;
        token["single_word"] = false;
        return token;
    }

    static string? ReadToken(JsonObject json, string key, string path)
    {
        JsonNode? node = json[key];
        if (node is null) return null;
        if (node is JsonObject obj) node = obj["content"];
        if (node is JsonValue value && value.TryGetValue(out string? content)) return content;
        throw new ConfigException(path, key, $"expected a string or an object with a string \"content\", got {json[key]!.ToJsonString()}");
    }

    static int? ReadMaxLength(JsonObject json, string path)
    {
        JsonNode? node = json["model_max_length"];
        if (node is null) return null;
        if (node is JsonValue value && value.TryGetValue(out double length) && length >= 2)
            return length >= int.MaxValue ? int.MaxValue : (int)length;
        throw new ConfigException(path, "model_max_length", $"expected a number of at least 2, got {node.ToJsonString()}");
    }

    static bool? ReadBool(JsonObject json, string key, string path)
    {
        JsonNode? node = json[key];
        if (node is null) return null;
        if (node is JsonValue value && value.TryGetValue(out bool flag)) return flag;
        throw new ConfigException(path, key, $"expected true or false, got {node.ToJsonString()}");
    }
}
