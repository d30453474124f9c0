using System.Text.Json;
using Latent.Core.Data;

namespace Latent.Training.UNet;

/// <summary>Groups a data set's images by one of their metadata fields, for <see cref="UNetTrainingConfig.BalanceBy"/>.</summary>
public static class ImageGroups
{
    /// <summary>Each record's group: the index of its <paramref name="field"/>'s value among the distinct values, in order
    /// of first appearance.</summary>
    /// <param name="records">The images' records (<see cref="LatentCache.Records"/>).</param>
    /// <param name="field">The metadata field, e.g. <c>base</c>.</param>
    /// <exception cref="InvalidDataException">A record lacks the field or has an empty or non-scalar value; the message
    /// names the first such image and how many there are.</exception>
    public static int[] By(IReadOnlyList<ImageFolderRecord> records, string field)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentException.ThrowIfNullOrWhiteSpace(field);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var groups = new int[records.Count];
        var bad = new List<string>();
        for (int i = 0; i < records.Count; i++)
        {
            string? value = records[i].Fields.TryGetValue(field, out var element) ? Scalar(element) : null;
            if (string.IsNullOrEmpty(value)) { bad.Add(records[i].FileName); continue; }
            if (!index.TryGetValue(value, out int g)) index[value] = g = index.Count;
            groups[i] = g;
        }
        if (bad.Count > 0)
            throw new InvalidDataException(
                $"balance_by '{field}': {bad.Count} of {records.Count} images have no '{field}' field with a non-empty string or number " +
                $"(first: '{bad[0]}'); expected every metadata line to carry it (`latent data emoji` writes \"base\")");
        return groups;
    }

    static string? Scalar(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetRawText(),
        _ => null,
    };
}
