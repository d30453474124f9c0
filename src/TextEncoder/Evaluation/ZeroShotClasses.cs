namespace Latent.TextEncoder.Evaluation;

/// <summary>
/// The classes of a zero-shot evaluation from raw category labels, merging spellings of one category: the emoji data
/// set writes OpenMoji's <c>smileys-emotion</c> and Unicode's <c>Smileys &amp; Emotion</c> for the same group.
/// </summary>
/// <remarks>
/// Labels are grouped by their lower-cased letters and digits with the word "and" removed (both spellings above give
/// <c>smileysemotion</c>). A class is named by a spelling with "&amp;" when the group has one ("smileys and emotion"),
/// else by the label with hyphens as spaces ("extras openmoji"), lower-cased. Classes are sorted by name.
/// </remarks>
public sealed class ZeroShotClasses
{
    readonly Dictionary<string, int> indexByGroup;

    ZeroShotClasses(IReadOnlyList<string> names, Dictionary<string, int> indexByGroup)
    {
        Names = names;
        this.indexByGroup = indexByGroup;
    }

    /// <summary>The class names, C of them, in index order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Builds the classes of the given raw labels (blank labels are ignored).</summary>
    public static ZeroShotClasses Build(IEnumerable<string?> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var spellings = labels.Where(l => !string.IsNullOrWhiteSpace(l)).Select(l => l!.Trim()).Distinct()
            .GroupBy(GroupKey).ToList();
        var named = spellings.Select(g => (Key: g.Key, Name: NameOf(g.ToList()))).OrderBy(x => x.Name, StringComparer.Ordinal).ToList();
        var names = named.Select(x => x.Name).ToList();
        var index = named.Select((x, i) => (x.Key, i)).ToDictionary(x => x.Key, x => x.i);
        return new ZeroShotClasses(names, index);
    }

    /// <summary>The class index of a raw label, or -1 when it is blank or unknown.</summary>
    public int IndexOf(string? label) =>
        !string.IsNullOrWhiteSpace(label) && indexByGroup.TryGetValue(GroupKey(label.Trim()), out int i) ? i : -1;

    static string GroupKey(string label)
    {
        string lower = " " + label.ToLowerInvariant().Replace('-', ' ').Replace('_', ' ') + " ";
        lower = lower.Replace(" and ", " ", StringComparison.Ordinal);
        return new string(lower.Where(char.IsLetterOrDigit).ToArray());
    }

    static string NameOf(List<string> spellings)
    {
        string? withAmpersand = spellings.Where(s => s.Contains('&')).OrderBy(s => s, StringComparer.Ordinal).FirstOrDefault();
        string chosen = withAmpersand ?? spellings.OrderBy(s => s, StringComparer.Ordinal).First();
        string name = chosen.Replace("&", " and ", StringComparison.Ordinal).Replace('-', ' ').Replace('_', ' ').ToLowerInvariant();
        return string.Join(' ', name.Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }
}
