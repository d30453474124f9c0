namespace Latent.Core.Config;

/// <summary>
/// A config file (config.json, scheduler_config.json, model_index.json) could not be read: it is not valid JSON, a key
/// holds a value of the wrong type, or it describes another class than the caller asked for. The message names the
/// source and, where the problem belongs to one key, that key with the value found and the type expected.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>Creates the exception for <paramref name="sourceName"/>.</summary>
    /// <param name="sourceName">The file path (or the name the caller gave to a text).</param>
    /// <param name="key">The top-level key the problem belongs to, or null when it concerns the whole document.</param>
    /// <param name="detail">What is wrong, with the value found and the one expected.</param>
    /// <param name="inner">The parser's or serializer's exception, when there is one.</param>
    public ConfigException(string sourceName, string? key, string detail, Exception? inner = null)
        : base(Compose(sourceName, key, detail), inner)
    {
        SourceName = sourceName;
        Key = key;
        Detail = detail;
    }

    /// <summary>The file path (or the name the caller gave to a text).</summary>
    public string SourceName { get; }

    /// <summary>The top-level key the problem belongs to, or null when it concerns the whole document.</summary>
    public string? Key { get; }

    /// <summary>What is wrong, without the source and key prefix.</summary>
    public string Detail { get; }

    static string Compose(string sourceName, string? key, string detail) =>
        key is null
            ? $"Invalid config '{sourceName}': {detail}"
            : $"Invalid config '{sourceName}', key \"{key}\": {detail}";
}
