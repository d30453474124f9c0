using System.Text.Json;
using Latent.Core.Data;

namespace Latent.TextEncoder.Captions;

/// <summary>
/// The identity of an image-folder record for contrastive training and retrieval: records with the same key show the
/// same thing (the same emoji in another source's style), so they are masked as false negatives in a batch and count
/// as correct retrievals in evaluation.
/// </summary>
public static class ClipPairKeys
{
    /// <summary>
    /// The key of <paramref name="record"/>: its <paramref name="keyField"/> string, upper-cased, with the variation
    /// selector FE0F dropped (the emoji data set's identity rule: <c>2764-FE0F</c> and <c>2764</c> are one emoji); a
    /// record without that field falls back to its first caption, lower-cased and trimmed ("caption:" prefixed).
    /// </summary>
    public static string Of(ImageFolderRecord record, string keyField)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Fields.TryGetValue(keyField, out var value) && value.ValueKind == JsonValueKind.String
            && !string.IsNullOrWhiteSpace(value.GetString()))
        {
            var parts = value.GetString()!.Trim().ToUpperInvariant().Split('-', ' ')
                .Where(p => p.Length > 0 && p != "FE0F");
            return "key:" + string.Join("-", parts);
        }
        return "caption:" + record.Captions[0].Trim().ToLowerInvariant();
    }

    /// <summary>
    /// The in-batch false negatives: <c>mask[i, j]</c> is true when i ≠ j and pair j's key equals pair i's, or its text
    /// does (two different images whose captions are the same string are equally right answers).
    /// </summary>
    /// <param name="keys">B keys.</param>
    /// <param name="texts">B texts (compared exactly, after trimming), or null to compare keys only.</param>
    /// <returns>[B, B] booleans, row-major.</returns>
    /// <exception cref="ArgumentException">The lists differ in length.</exception>
    public static bool[,] FalseNegatives(IReadOnlyList<string> keys, IReadOnlyList<string>? texts = null)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (texts is not null && texts.Count != keys.Count)
            throw new ArgumentException($"expected one text per key ({keys.Count}); got {texts.Count} texts", nameof(texts));
        int b = keys.Count;
        var mask = new bool[b, b];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++)
                mask[i, j] = i != j && (keys[i] == keys[j] || (texts is not null && texts[i].Trim() == texts[j].Trim()));
        return mask;
    }
}
