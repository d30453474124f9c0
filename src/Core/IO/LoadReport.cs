namespace Latent.Core.IO;

/// <summary>What <see cref="StateDictLoader"/> did.</summary>
/// <param name="Loaded">The module keys that were copied, in source order.</param>
/// <param name="Missing">Module keys no source key mapped to (empty after a strict load); they keep their values.</param>
/// <param name="Unexpected">Source keys, as in the source, whose mapped key the module does not have (empty after a strict load).</param>
/// <param name="Dropped">Source keys that <see cref="LoadOptions.MapKey"/> mapped to null.</param>
public sealed record LoadReport(
    IReadOnlyList<string> Loaded,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> Dropped);
