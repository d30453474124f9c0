namespace Latent.Core.Config;

/// <summary>The result of <see cref="ConfigFile.Read{T}"/>: the config and the keys of the file that it does not declare.</summary>
/// <typeparam name="T">The config record.</typeparam>
/// <param name="Config">The config; its <see cref="JsonConfig.ExtensionData"/> holds the unknown keys with their raw JSON.</param>
/// <param name="UnknownKeys">The keys <typeparamref name="T"/> does not declare, in file order; each appears once.</param>
/// <param name="SourceName">The file path, or the name given to <see cref="ConfigFile.ReadText{T}"/>.</param>
public sealed record ConfigRead<T>(T Config, IReadOnlyList<string> UnknownKeys, string SourceName) where T : JsonConfig
{
    /// <summary>
    /// One line that reports every unknown key, for the caller to log once (null when there are none). Unknown keys are
    /// not an error: diffusers' own configs gain keys between versions, and they are written back unchanged.
    /// </summary>
    public string? Warning => UnknownKeys.Count == 0
        ? null
        : $"{SourceName}: {UnknownKeys.Count} key(s) not used by {typeof(T).Name}, kept as-is and written back: {string.Join(", ", UnknownKeys)}";
}
