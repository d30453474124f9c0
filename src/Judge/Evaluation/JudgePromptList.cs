using System.Globalization;

namespace Latent.Judge.Evaluation;

/// <summary>Which part of the prompt list a prompt belongs to.</summary>
public enum PromptPart
{
    /// <summary>May guide training and tuning decisions.</summary>
    Tune,

    /// <summary>Never drives a decision: reported only, so that the figures on it stay honest.</summary>
    HeldOut,
}

/// <summary>One prompt of a judge prompt list.</summary>
/// <param name="Text">The prompt as people would type it.</param>
/// <param name="Codes">The acceptable emoji, as folded base codes (<see cref="EmojiCodes.Fold"/>), at least one.</param>
/// <param name="Part">Tune or held out.</param>
/// <param name="Line">The 1-based line of the file, for messages.</param>
public sealed record JudgePrompt(string Text, IReadOnlyList<string> Codes, PromptPart Part, int Line);

/// <summary>
/// A judge prompt list: a tab-separated file with <c>#</c> comments, a header <c>prompt	codes	part</c> (an optional
/// fourth column, e.g. <c>names</c>, is for people and not read), then one prompt a line: its text, its acceptable emoji
/// codes separated by spaces, and <c>tune</c> or <c>heldout</c>. Every error names the file and the line.
/// </summary>
public static class JudgePromptList
{
    static readonly string[] Header = ["prompt", "codes", "part"];

    /// <summary>Reads and checks a prompt list.</summary>
    /// <exception cref="FileNotFoundException">The file is missing.</exception>
    /// <exception cref="InvalidDataException">A line is malformed, a prompt repeats, or there is no prompt.</exception>
    public static List<JudgePrompt> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"judge prompt list '{Path.GetFullPath(path)}' does not exist", path);
        return Parse(File.ReadAllLines(path), Path.GetFullPath(path));
    }

    /// <summary>Parses the lines of a prompt list named <paramref name="source"/> in messages.</summary>
    /// <exception cref="InvalidDataException">A line is malformed, a prompt repeats, or there is no prompt.</exception>
    public static List<JudgePrompt> Parse(IReadOnlyList<string> lines, string source)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var prompts = new List<JudgePrompt>();
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        bool headerSeen = false;
        for (int i = 0; i < lines.Count; i++)
        {
            int line = i + 1;
            string text = lines[i];
            if (string.IsNullOrWhiteSpace(text) || text.TrimStart().StartsWith('#')) continue;
            InvalidDataException Bad(string why) => new($"{source} line {line}: {why}");
            var columns = text.Split('\t');
            if (!headerSeen)
            {
                if (columns.Length < 3 || !columns.Take(3).Select(c => c.Trim().ToLowerInvariant()).SequenceEqual(Header))
                    throw Bad($"expected the header 'prompt<TAB>codes<TAB>part' before the prompts; got '{text}'.");
                headerSeen = true;
                continue;
            }
            if (columns.Length is < 3 or > 4)
                throw Bad($"expected 3 or 4 tab-separated columns (prompt, codes, part[, names]); got {columns.Length}.");
            string prompt = columns[0].Trim();
            if (prompt.Length == 0) throw Bad("the prompt is empty; expected text such as 'a cat'.");
            if (seen.TryGetValue(prompt, out int first)) throw Bad($"prompt '{prompt}' repeats line {first}; expected each prompt once.");
            var codes = new List<string>();
            foreach (string raw in columns[1].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string code;
                try { code = EmojiCodes.Fold(raw); }
                catch (ArgumentException e) { throw Bad($"prompt '{prompt}': {e.Message.Split(" (Parameter")[0]}"); }
                if (!codes.Contains(code)) codes.Add(code);
            }
            if (codes.Count == 0) throw Bad($"prompt '{prompt}' has no emoji codes; expected e.g. '1F431 1F408'.");
            PromptPart part = columns[2].Trim().ToLowerInvariant() switch
            {
                "tune" => PromptPart.Tune,
                "heldout" or "held-out" => PromptPart.HeldOut,
                _ => throw Bad($"prompt '{prompt}' has part '{columns[2].Trim()}'; expected 'tune' or 'heldout'."),
            };
            seen[prompt] = line;
            prompts.Add(new JudgePrompt(prompt, codes, part, line));
        }
        if (prompts.Count == 0) throw new InvalidDataException($"{source} holds no prompt; expected a header line and then 'prompt<TAB>codes<TAB>part' lines.");
        return prompts;
    }

    /// <summary>The class ids of each prompt's codes in <paramref name="classes"/>.</summary>
    /// <exception cref="InvalidDataException">A code is not one of the judge's classes (the message names the source line).</exception>
    public static List<IReadOnlyCollection<int>> Resolve(IReadOnlyList<JudgePrompt> prompts, IReadOnlyList<JudgeClass> classes, string source)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(classes);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < classes.Count; i++) index[classes[i].Code] = i;
        var result = new List<IReadOnlyCollection<int>>();
        foreach (var p in prompts)
        {
            var ids = new HashSet<int>();
            foreach (string code in p.Codes)
                ids.Add(index.TryGetValue(code, out int id) ? id
                    : throw new InvalidDataException($"{source} line {p.Line}: prompt '{p.Text}' names emoji {code}, which is not one of the judge's {classes.Count.ToString(CultureInfo.InvariantCulture)} classes."));
            result.Add(ids);
        }
        return result;
    }
}
