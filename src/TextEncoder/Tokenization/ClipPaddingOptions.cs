namespace Latent.TextEncoder.Tokenization;

/// <summary>How <see cref="ClipTokenizer.EncodeBatch"/> makes every sequence of a batch the same length.</summary>
public enum ClipPadding
{
    /// <summary>Pad to <see cref="ClipPaddingOptions.MaxLength"/> (transformers' <c>padding="max_length"</c>): what Stable Diffusion does, always 77 columns.</summary>
    MaxLength,

    /// <summary>Pad to the longest sequence of the batch (transformers' <c>padding="longest"</c>).</summary>
    Longest,
}

/// <summary>
/// Padding and truncation for <see cref="ClipTokenizer.Encode(string, ClipPaddingOptions)"/> and
/// <see cref="ClipTokenizer.EncodeBatch"/>. The defaults are Stable Diffusion's call
/// <c>tokenizer(prompt, padding="max_length", max_length=model_max_length, truncation=True)</c>.
/// </summary>
public sealed record ClipPaddingOptions
{
    /// <summary>Padding to a fixed length (the default) or to the longest sequence.</summary>
    public ClipPadding Padding { get; init; } = ClipPadding.MaxLength;

    /// <summary>The length to pad and truncate to, bos and eos included; null takes the tokenizer's <see cref="ClipTokenizer.ModelMaxLength"/>.</summary>
    public int? MaxLength { get; init; }

    /// <summary>
    /// The id written into padding positions; null takes the tokenizer's <see cref="ClipTokenizer.PadId"/>
    /// (the eos id for SD 1.x's tokenizer: SD1 style). SD 2.x pads with 0.
    /// </summary>
    public int? PadId { get; init; }

    /// <summary>
    /// Whether a longer sequence is cut to <see cref="MaxLength"/>: CLIP keeps bos and eos and drops content tokens,
    /// so the eos token sits at position <c>MaxLength - 1</c>. Without truncation a longer sequence is an error.
    /// </summary>
    public bool Truncation { get; init; } = true;

    /// <summary>SD 1.x: pad with the tokenizer's pad token (eos) to <c>model_max_length</c>, truncating.</summary>
    public static ClipPaddingOptions Default { get; } = new();

    /// <summary>Pads with <paramref name="padId"/> (SD 2.x: 0) to <c>model_max_length</c>, truncating.</summary>
    public static ClipPaddingOptions WithPadId(int padId) => new() { PadId = padId };
}
