using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Latent.Core.Imaging;

namespace Latent.Pipeline.Metadata;

/// <summary>
/// The settings that made an image, in AUTOMATIC1111's <c>parameters</c> text format, so that A1111, ComfyUI loaders,
/// Civitai and similar tools read our PNGs:
/// <code>
/// a photo of a cat
/// Negative prompt: blurry
/// Steps: 30, Sampler: DDIM, CFG scale: 7.5, Seed: 1, Size: 64x64, Model: emoji-64
/// </code>
/// </summary>
/// <param name="Prompt">The prompt; may span several lines.</param>
/// <param name="NegativePrompt">The negative prompt; empty means none (the line is then left out).</param>
/// <param name="Steps">Denoising steps.</param>
/// <param name="Sampler">The sampler's display name (<c>DDIM</c>, <c>Euler a</c>).</param>
/// <param name="CfgScale">Classifier-free guidance scale; written in invariant culture without trailing zeros (7.5, 7).</param>
/// <param name="Seed">The seed of the initial noise.</param>
/// <param name="Width">Image width in pixels.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Model">The model's name; null leaves the key out.</param>
/// <param name="Extras">Further keys (<c>Model hash</c>, <c>Eta</c>, ...) written after <c>Model</c> in this order; null means none.</param>
public sealed record GenerationParameters(
    string Prompt,
    string NegativePrompt,
    int Steps,
    string Sampler,
    double CfgScale,
    long Seed,
    int Width,
    int Height,
    string? Model = null,
    IReadOnlyList<KeyValuePair<string, string>>? Extras = null)
{
    /// <summary>The PNG text keyword A1111 stores this text under.</summary>
    public const string PngKeyword = "parameters";

    /// <summary>
    /// A1111's pattern for one <c>key: value</c> pair of the last line (modules/infotext_utils.py, <c>re_param_code</c>):
    /// a key of word characters, spaces, '-' and '/', then either a JSON string or anything up to the next comma.
    /// </summary>
    static readonly Regex ParamPattern = new(@"\s*(\w[\w \-/]+):\s*(""(?:\\.|[^\\""])+""|[^,]*)(?:,|$)", RegexOptions.CultureInvariant);
    static readonly Regex KeyPattern = new(@"^\w[\w \-/]*[\w\-/]$", RegexOptions.CultureInvariant);
    static readonly Regex SizePattern = new(@"^(\d+)x(\d+)$", RegexOptions.CultureInvariant);
    static readonly string[] KnownKeys = ["Steps", "Sampler", "CFG scale", "Seed", "Size", "Model"];
    const string NegativePrefix = "Negative prompt:";

    /// <summary>Formats the A1111 text: prompt lines, an optional <c>Negative prompt:</c> line, then the settings line.</summary>
    /// <remarks>
    /// Values are quoted as A1111's <c>quote()</c> does: a value holding a comma, colon or newline becomes a JSON string;
    /// we also quote values holding a double quote or starting or ending with white space, which A1111's parser would
    /// otherwise alter. Unlike A1111 the text is not stripped, so a prompt should not start or end with white space.
    /// </remarks>
    /// <exception cref="ArgumentException">An extra key is not a valid A1111 key or repeats a known one, or a number is out of range.</exception>
    public string Format()
    {
        Validate();
        var line = new List<string>
        {
            $"Steps: {Steps.ToString(CultureInfo.InvariantCulture)}",
            $"Sampler: {Quote(Sampler)}",
            $"CFG scale: {CfgScale.ToString("R", CultureInfo.InvariantCulture)}",
            $"Seed: {Seed.ToString(CultureInfo.InvariantCulture)}",
            $"Size: {Width.ToString(CultureInfo.InvariantCulture)}x{Height.ToString(CultureInfo.InvariantCulture)}",
        };
        if (Model is not null)
            line.Add($"Model: {Quote(Model)}");
        foreach ((string key, string value) in Extras ?? [])
            line.Add($"{key}: {Quote(value)}");

        var text = new StringBuilder(Prompt);
        if (NegativePrompt.Length > 0)
            text.Append('\n').Append(NegativePrefix).Append(' ').Append(NegativePrompt);
        return text.Append('\n').Append(string.Join(", ", line)).ToString();
    }

    /// <summary>Parses A1111 <c>parameters</c> text, as A1111's <c>parse_generation_parameters</c> does.</summary>
    /// <remarks>
    /// The last line holds the settings when the pattern finds at least three pairs in it; the lines before are the
    /// prompt until a line starting with <c>Negative prompt:</c>, and the negative prompt from there. Each line is
    /// trimmed. Quoted values are JSON-unquoted. Keys other than the six known ones go to <see cref="Extras"/> in order.
    /// </remarks>
    /// <param name="text">The text, e.g. from <see cref="ReadPng"/>.</param>
    /// <exception cref="FormatException">The settings line is missing, or Steps, Sampler, CFG scale, Seed or Size is missing or malformed.</exception>
    public static GenerationParameters Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        List<string> lines = [.. text.Trim().Split('\n')];
        MatchCollection pairs = ParamPattern.Matches(lines[^1]);
        if (pairs.Count < 3)
            throw new FormatException(
                $"no A1111 settings line: the last line '{Shorten(lines[^1])}' has {pairs.Count} 'key: value' pairs; expected at least 3 (Steps, Sampler, CFG scale, ...)");
        lines.RemoveAt(lines.Count - 1);

        var prompt = new List<string>();
        var negative = new List<string>();
        bool inNegative = false;
        foreach (string raw in lines)
        {
            string line = raw.Trim();
            if (line.StartsWith(NegativePrefix, StringComparison.Ordinal))
            {
                inNegative = true;
                line = line[NegativePrefix.Length..].Trim();
            }
            // Like A1111: a blank line is dropped before the first line of each prompt, kept after it.
            List<string> target = inNegative ? negative : prompt;
            if (target.Count > 0 || line.Length > 0)
                target.Add(line);
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var extras = new List<KeyValuePair<string, string>>();
        foreach (Match pair in pairs)
        {
            string key = pair.Groups[1].Value;
            string value = Unquote(pair.Groups[2].Value);
            if (KnownKeys.Contains(key))
                values[key] = value;
            else
            {
                extras.RemoveAll(e => e.Key == key); // a repeated key keeps its last value, as A1111's dict does
                extras.Add(new(key, value));
            }
        }

        string Required(string key) => values.TryGetValue(key, out string? v)
            ? v
            : throw new FormatException($"the A1111 settings line lacks '{key}'; it has: {string.Join(", ", values.Keys.Concat(extras.Select(e => e.Key)))}");
        Match size = SizePattern.Match(Required("Size"));
        if (!size.Success)
            throw new FormatException($"A1111 'Size' must be WIDTHxHEIGHT (e.g. 64x64); got '{values["Size"]}'");
        return new GenerationParameters(
            Prompt: string.Join('\n', prompt),
            NegativePrompt: string.Join('\n', negative),
            Steps: ParseNumber<int>(Required("Steps"), "Steps"),
            Sampler: Required("Sampler"),
            CfgScale: ParseNumber<double>(Required("CFG scale"), "CFG scale"),
            Seed: ParseNumber<long>(Required("Seed"), "Seed"),
            Width: ParseNumber<int>(size.Groups[1].Value, "Size"),
            Height: ParseNumber<int>(size.Groups[2].Value, "Size"),
            Model: values.GetValueOrDefault("Model"),
            Extras: extras);
    }

    /// <summary>Stores <see cref="Format"/>'s text under the <c>parameters</c> keyword of a PNG file, atomically.</summary>
    /// <param name="path">An existing PNG file, e.g. from <see cref="ImageIO.SavePng"/>.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid PNG.</exception>
    public void WriteToPng(string path) => PngText.WriteFile(path, PngKeyword, Format());

    /// <summary>Reads and parses the <c>parameters</c> text of a PNG file; null when the file has none.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid PNG.</exception>
    /// <exception cref="FormatException">The text is not A1111 parameters.</exception>
    public static GenerationParameters? ReadPng(string path)
    {
        PngTextEntry? entry = PngText.ReadFile(path).FirstOrDefault(e => e.Keyword == PngKeyword);
        return entry is null ? null : Parse(entry.Text);
    }

    /// <summary>Value equality that compares <see cref="Extras"/> element by element.</summary>
    public bool Equals(GenerationParameters? other) =>
        other is not null && Prompt == other.Prompt && NegativePrompt == other.NegativePrompt && Steps == other.Steps &&
        Sampler == other.Sampler && CfgScale.Equals(other.CfgScale) && Seed == other.Seed && Width == other.Width &&
        Height == other.Height && Model == other.Model && (Extras ?? []).SequenceEqual(other.Extras ?? []);

    /// <summary>A hash consistent with <see cref="Equals(GenerationParameters?)"/>.</summary>
    public override int GetHashCode() =>
        HashCode.Combine(Prompt, NegativePrompt, Steps, Sampler, CfgScale, Seed, HashCode.Combine(Width, Height, Model, Extras?.Count ?? 0));

    void Validate()
    {
        ArgumentNullException.ThrowIfNull(Prompt, nameof(Prompt));
        ArgumentNullException.ThrowIfNull(NegativePrompt, nameof(NegativePrompt));
        ArgumentNullException.ThrowIfNull(Sampler, nameof(Sampler));
        if (Steps < 0)
            throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "Steps must be 0 or more");
        if (Width <= 0 || Height <= 0)
            throw new ArgumentOutOfRangeException(nameof(Width), $"{Width}x{Height}", "Size must be positive");
        if (!double.IsFinite(CfgScale))
            throw new ArgumentOutOfRangeException(nameof(CfgScale), CfgScale, "CFG scale must be a finite number");
        if (Prompt.Split('\n').Any(l => l.TrimStart().StartsWith(NegativePrefix, StringComparison.Ordinal)))
            throw new ArgumentException($"a prompt line starts with '{NegativePrefix}', which would be read back as the negative prompt", nameof(Prompt));
        foreach ((string key, string value) in Extras ?? [])
        {
            if (key is null || !KeyPattern.IsMatch(key))
                throw new ArgumentException(
                    $"extra key '{key}' is not an A1111 key: expected 2 or more letters, digits, '_', ' ', '-' or '/', starting with a letter or digit and not ending with a space", nameof(Extras));
            if (KnownKeys.Contains(key))
                throw new ArgumentException($"extra key '{key}' repeats a named parameter; set the {key} property instead", nameof(Extras));
            ArgumentNullException.ThrowIfNull(value, $"value of extra '{key}'");
        }
        if (Extras is not null && Extras.Select(e => e.Key).Distinct().Count() != Extras.Count)
            throw new ArgumentException("extra keys must be distinct", nameof(Extras));
    }

    /// <summary>A1111's <c>quote()</c> (json.dumps with ensure_ascii=False) for values that need it.</summary>
    static string Quote(string value)
    {
        bool needs = value.AsSpan().IndexOfAny(",:\n\"") >= 0 ||
                     (value.Length > 0 && (char.IsWhiteSpace(value[0]) || char.IsWhiteSpace(value[^1])));
        if (!needs)
            return value;
        var quoted = new StringBuilder(value.Length + 2).Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                case '\b': quoted.Append("\\b"); break;
                case '\f': quoted.Append("\\f"); break;
                case < ' ': quoted.Append($"\\u{(int)c:x4}"); break;
                default: quoted.Append(c); break;
            }
        }
        return quoted.Append('"').ToString();
    }

    /// <summary>A1111's <c>unquote()</c>: a value in double quotes is a JSON string; if it does not parse, it stays as is.</summary>
    static string Unquote(string value)
    {
        if (value.Length < 2 || value[0] != '"' || value[^1] != '"')
            return value;
        try
        {
            return JsonSerializer.Deserialize<string>(value) ?? value;
        }
        catch (JsonException)
        {
            return value;
        }
    }

    static T ParseNumber<T>(string value, string key) where T : INumber<T> =>
        T.TryParse(value.Trim(), typeof(T) == typeof(double) ? NumberStyles.Float : NumberStyles.Integer, CultureInfo.InvariantCulture, out T? number) && number is not null
            ? number
            : throw new FormatException($"A1111 '{key}' must be a number; got '{value}'");

    static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";
}
