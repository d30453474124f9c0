namespace Latent.TextEncoder.Tokenization;

/// <summary>One encoded, padded sequence.</summary>
/// <param name="InputIds">The token ids: bos, content, eos, then padding.</param>
/// <param name="AttentionMask">1 for bos, content and eos; 0 for padding (whatever id pads, eos included).</param>
public sealed record ClipEncoding(int[] InputIds, int[] AttentionMask);
