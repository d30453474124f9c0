namespace Latent.Core.IO;

/// <summary>How <see cref="StateDictLoader"/> treats keys that match nothing.</summary>
public enum StateDictStrictness
{
    /// <summary>Any missing or unexpected key is an error (the default, as PyTorch's <c>strict=True</c>).</summary>
    Strict,

    /// <summary>Missing and unexpected keys are reported in the <see cref="LoadReport"/>; mis-shaped keys still throw.</summary>
    NonStrict,
}

/// <summary>Options of <see cref="StateDictLoader"/>.</summary>
/// <example>
/// Strip a <c>"model."</c> prefix and drop the position ids that many CLIP checkpoints carry:
/// <code>
/// var options = new LoadOptions
/// {
///     MapKey = key => key == "text_model.embeddings.position_ids" ? null
///                   : key.StartsWith("model.", StringComparison.Ordinal) ? key["model.".Length..] : key,
/// };
/// </code>
/// </example>
public sealed record LoadOptions
{
    /// <summary>The defaults: strict, keys used as they are.</summary>
    public static LoadOptions Default { get; } = new();

    /// <summary>
    /// Maps a source (file) key to the module key it loads into; returning null drops the key (it is listed in
    /// <see cref="LoadReport.Dropped"/>, never as unexpected). Null (the default) uses keys as they are.
    /// Two source keys that map to the same module key are an error.
    /// </summary>
    public Func<string, string?>? MapKey { get; init; }

    /// <summary>Whether missing and unexpected keys throw (<see cref="StateDictStrictness.Strict"/>, the default) or are reported.</summary>
    public StateDictStrictness Strictness { get; init; } = StateDictStrictness.Strict;
}
