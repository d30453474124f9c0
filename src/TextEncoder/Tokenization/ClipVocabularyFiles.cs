using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.IO;

namespace Latent.TextEncoder.Tokenization;

/// <summary>
/// Reads and writes CLIP's <c>vocab.json</c> and <c>merges.txt</c> exactly as transformers' <c>CLIPTokenizer</c> does.
/// </summary>
/// <remarks>
/// Written by hand rather than with <c>BpeTokenizer.Create(vocabFile, mergesFile)</c> because transformers reads the
/// merges its own way (the first line is always skipped, at most <see cref="MaxMerges"/> are used) and we need the
/// vocabulary and merges ourselves to decode and to save; the parsed data then goes to the library through <c>BpeOptions</c>.
/// </remarks>
internal static class ClipVocabularyFiles
{
    /// <summary>The vocabulary file name.</summary>
    public const string VocabFile = "vocab.json";

    /// <summary>The merges file name.</summary>
    public const string MergesFile = "merges.txt";

    /// <summary>
    /// The most merges transformers reads (<c>lines[1 : 49152 - 256 - 2 + 1]</c>): CLIP's 49408-token vocabulary is
    /// 256 bytes, their 256 end-of-word forms, 48894 merges and the two special tokens.
    /// </summary>
    public const int MaxMerges = 49152 - 256 - 2;

    /// <summary>Reads <c>vocab.json</c>: a JSON object from token to id.</summary>
    /// <exception cref="FormatException">The file is not such an object, or an id is not a non-negative integer.</exception>
    public static Dictionary<string, int> ReadVocabulary(string path)
    {
        using JsonDocument document = ParseJson(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new FormatException($"{path}: expected a JSON object from token to id, got a {document.RootElement.ValueKind}.");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in document.RootElement.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new FormatException($"{path}: the id of token '{entry.Name}' must be a non-negative integer, got {entry.Value.GetRawText()}.");
            vocab[entry.Name] = id;
        }
        return vocab;
    }

    /// <summary>
    /// Reads <c>merges.txt</c> as transformers does: universal newlines, the text stripped, the first line (the
    /// <c>#version</c> header) skipped whatever it says, at most <see cref="MaxMerges"/> lines, each split on whitespace.
    /// Blank lines are skipped.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="vocabulary">When given, each merge's two symbols and their concatenation must be tokens of it (as in
    /// every CLIP vocabulary, which is built from the merges); a merge that is not can never apply and marks a garbled file.</param>
    /// <exception cref="FormatException">A line does not hold exactly two symbols, repeats an earlier merge (the BPE
    /// ranks would be ambiguous), or does not fit <paramref name="vocabulary"/>; the message names the file and the line.</exception>
    public static List<(string Left, string Right)> ReadMerges(string path, IReadOnlyDictionary<string, int>? vocabulary = null)
    {
        string text = File.ReadAllText(path, Encoding.UTF8).Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        string[] lines = PythonText.Strip(text).Split('\n');
        var merges = new List<(string, string)>();
        var firstLine = new Dictionary<(string, string), int>();
        for (int i = 1; i < lines.Length && i <= MaxMerges; i++)
        {
            List<string> parts = PythonText.Split(lines[i]);
            if (parts.Count == 0) continue;
            if (parts.Count != 2)
                throw new FormatException($"{path}, line {i + 1}: expected two symbols separated by a space, got '{lines[i]}'.");
            var merge = (parts[0], parts[1]);
            if (!firstLine.TryAdd(merge, i + 1))
                throw new FormatException($"{path}, line {i + 1}: the merge '{lines[i]}' repeats line {firstLine[merge]}; expected each merge once.");
            if (vocabulary is not null && new[] { parts[0], parts[1], parts[0] + parts[1] }.FirstOrDefault(t => !vocabulary.ContainsKey(t)) is { } missing)
                throw new FormatException($"{path}, line {i + 1}: the merge '{lines[i]}' uses '{missing}', which is not in the vocabulary; expected tokens of vocab.json.");
            merges.Add(merge);
        }
        return merges;
    }

    /// <summary>Writes <c>vocab.json</c> as <c>json.dumps(vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n"</c>.</summary>
    public static void WriteVocabulary(string path, IReadOnlyDictionary<string, int> vocab)
    {
        var json = new JsonObject();
        foreach (var (token, id) in vocab) json[token] = id;
        AtomicFile.WriteAllText(path, PythonJson.Format(json, ensureAscii: false) + "\n");
    }

    /// <summary>Writes <c>merges.txt</c>: the <c>#version: 0.2</c> header, then one merge per line in rank order.</summary>
    public static void WriteMerges(string path, IReadOnlyList<(string Left, string Right)> merges)
    {
        var sb = new StringBuilder("#version: 0.2\n");
        foreach (var (left, right) in merges) sb.Append(left).Append(' ').Append(right).Append('\n');
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>Writes a JSON tree as transformers writes its tokenizer configs (<c>indent=2, sort_keys=True, ensure_ascii=False</c>, final newline).</summary>
    public static void WriteJson(string path, JsonNode json) =>
        AtomicFile.WriteAllText(path, PythonJson.Format(json, ensureAscii: false) + "\n");

    static JsonDocument ParseJson(string path)
    {
        try
        {
            JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (Latent.Core.IO.JsonStrings.FindUndecodable(document.RootElement) is { } at)
            {
                document.Dispose();
                throw new FormatException($"{path}: {Latent.Core.IO.JsonStrings.Problem}, at {at}.");
            }
            return document;
        }
        catch (JsonException e)
        {
            throw new FormatException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }
}
