using System.Text;

namespace Latent.Core.IO;

/// <summary>A source tensor whose shape differs from the module entry it maps to.</summary>
/// <param name="Key">The module key.</param>
/// <param name="SourceKey">The key in the source (equal to <paramref name="Key"/> unless a key map changed it).</param>
/// <param name="ModuleShape">The shape the module expects.</param>
/// <param name="SourceShape">The shape found in the source.</param>
public sealed record ShapeMismatch(string Key, string SourceKey, IReadOnlyList<long> ModuleShape, IReadOnlyList<long> SourceShape);

/// <summary>
/// A state dict does not fit a module. One exception names every problem at once: all missing, unexpected and
/// mis-shaped keys (with both shapes), and any two source keys mapped onto the same module key. The module is unchanged.
/// </summary>
public sealed class StateDictMismatchException : Exception
{
    /// <summary>Creates the exception; the message lists every problem.</summary>
    /// <param name="source">The file the state dict came from, or null for an in-memory dictionary.</param>
    /// <param name="missing">Module keys that no source key mapped to.</param>
    /// <param name="unexpected">Source keys (as in the source) whose mapped key the module lacks.</param>
    /// <param name="mismatched">Keys present on both sides with different shapes.</param>
    /// <param name="conflicts">Descriptions of source keys mapped onto the same module key.</param>
    public StateDictMismatchException(string? source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<ShapeMismatch> mismatched, IReadOnlyList<string> conflicts)
        : base(Compose(source, missing, unexpected, mismatched, conflicts))
    {
        Source = source;
        Missing = missing;
        Unexpected = unexpected;
        Mismatched = mismatched;
        Conflicts = conflicts;
    }

    /// <summary>The file the state dict came from, or null for an in-memory dictionary.</summary>
    public new string? Source { get; }

    /// <summary>Module keys that no source key mapped to.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Source keys (as in the source) whose mapped key the module does not have.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Keys present on both sides whose shapes differ.</summary>
    public IReadOnlyList<ShapeMismatch> Mismatched { get; }

    /// <summary>Source keys that the key map sent to the same module key, one description per clash.</summary>
    public IReadOnlyList<string> Conflicts { get; }

    static string Compose(string? source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<ShapeMismatch> mismatched, IReadOnlyList<string> conflicts)
    {
        var text = new StringBuilder(source is null ? "The state dict does not match the module: " : $"The state dict in '{source}' does not match the module: ");
        text.Append($"{missing.Count} missing, {unexpected.Count} unexpected, {mismatched.Count} mis-shaped");
        if (conflicts.Count > 0) text.Append($", {conflicts.Count} key-map conflicts");
        text.Append('.');
        if (missing.Count > 0) text.Append("\n  missing: ").AppendJoin(", ", missing);
        if (unexpected.Count > 0) text.Append("\n  unexpected: ").AppendJoin(", ", unexpected);
        foreach (var m in mismatched)
        {
            string from = m.SourceKey == m.Key ? "" : $" (source key '{m.SourceKey}')";
            text.Append($"\n  mis-shaped: {m.Key}{from}: module [{string.Join(", ", m.ModuleShape)}], source [{string.Join(", ", m.SourceShape)}]");
        }
        foreach (var c in conflicts) text.Append("\n  conflict: ").Append(c);
        return text.ToString();
    }
}
