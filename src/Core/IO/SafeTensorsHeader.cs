using System.Text;
using System.Text.Json;

namespace Latent.Core.IO;

/// <summary>
/// Parses and validates a safetensors header, which is untrusted input: every violation becomes a
/// <see cref="SafeTensorsFormatException"/> that names the file and, where there is one, the tensor.
/// </summary>
/// <remarks>
/// The rules follow the reference implementation (huggingface/safetensors): the header is a UTF-8 JSON object; each
/// entry has a known dtype, non-negative dims and <c>data_offsets</c> [begin, end] with begin &lt;= end &lt;= buffer
/// length and end - begin = numel * item size (computed without overflow); the entries tile the data buffer exactly,
/// with no overlap, no gap and no trailing bytes (the reference rejects an incompletely covered buffer, and so do we:
/// unreferenced bytes are a sign of a truncated or tampered file). Unknown fields inside an entry are ignored, as the
/// reference does. A duplicate key is an error.
/// </remarks>
internal static class SafeTensorsHeader
{
    /// <summary>The largest header accepted, the reference implementation's own limit.</summary>
    internal const long MaxHeaderBytes = 100_000_000;

    internal const string MetadataKey = "__metadata__";

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Validates the header <paramref name="json"/> against a data buffer of <paramref name="dataLength"/> bytes.</summary>
    internal static (List<SafeTensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        string path, ReadOnlySpan<byte> json, long dataLength)
    {
        string text;
        try { text = StrictUtf8.GetString(json); }
        catch (DecoderFallbackException e) { throw new SafeTensorsFormatException(path, null, "the header is not valid UTF-8.", e); }

        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e) { throw new SafeTensorsFormatException(path, null, $"the header is not valid JSON ({e.Message}).", e); }

        using (doc)
        {
            if (JsonStrings.FindUndecodable(doc.RootElement) is { } at)
                throw new SafeTensorsFormatException(path, null, $"the header holds {JsonStrings.Problem}, at {at}.");
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException(path, null, $"the header must be a JSON object, found {doc.RootElement.ValueKind}.");

            var tensors = new List<SafeTensorsTensorInfo>();
            var metadata = new Dictionary<string, string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new SafeTensorsFormatException(path, property.Name, "the key appears more than once in the header.");
                if (property.Name == MetadataKey)
                    metadata = ParseMetadata(path, property.Value);
                else
                    tensors.Add(ParseEntry(path, property.Name, property.Value, dataLength));
            }
            CheckLayout(path, tensors, dataLength);
            return (tensors, metadata);
        }
    }

    static Dictionary<string, string> ParseMetadata(string path, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(path, null, $"{MetadataKey} must be an object of strings, found {value.ValueKind}.");
        var metadata = new Dictionary<string, string>();
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsFormatException(path, null,
                    $"{MetadataKey} value of '{item.Name}' must be a string, found {item.Value.ValueKind}.");
            metadata[item.Name] = item.Value.GetString()!;
        }
        return metadata;
    }

    static SafeTensorsTensorInfo ParseEntry(string path, string name, JsonElement entry, long dataLength)
    {
        SafeTensorsFormatException Error(string detail) => new(path, name, detail);

        if (entry.ValueKind != JsonValueKind.Object)
            throw Error($"the entry must be an object with dtype, shape and data_offsets, found {entry.ValueKind}.");
        if (!entry.TryGetProperty("dtype", out var dtypeJson)) throw Error("the entry has no 'dtype'.");
        if (!entry.TryGetProperty("shape", out var shapeJson)) throw Error("the entry has no 'shape'.");
        if (!entry.TryGetProperty("data_offsets", out var offsetsJson)) throw Error("the entry has no 'data_offsets'.");

        if (dtypeJson.ValueKind != JsonValueKind.String) throw Error($"'dtype' must be a string, found {dtypeJson.ValueKind}.");
        string dtypeName = dtypeJson.GetString()!;
        if (!SafeTensorsDtype.TryParse(dtypeName, out var dtype))
        {
            string what = SafeTensorsDtype.IsKnownButUnsupported(dtypeName) ? "is not supported" : "is unknown";
            throw Error($"dtype '{dtypeName}' {what}; supported: {string.Join(", ", SafeTensorsDtype.SupportedNames)}.");
        }

        if (shapeJson.ValueKind != JsonValueKind.Array) throw Error($"'shape' must be an array of integers, found {shapeJson.ValueKind}.");
        var shape = new long[shapeJson.GetArrayLength()];
        int i = 0;
        foreach (var dim in shapeJson.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d))
                throw Error($"'shape' must be an array of integers, found {dim.GetRawText()} at position {i}.");
            if (d < 0) throw Error($"'shape' has a negative dimension {d} at position {i}.");
            shape[i++] = d;
        }

        if (offsetsJson.ValueKind != JsonValueKind.Array || offsetsJson.GetArrayLength() != 2)
            throw Error($"'data_offsets' must be an array [begin, end] of two integers, found {offsetsJson.GetRawText()}.");
        long begin = ReadOffset(offsetsJson[0], "begin", Error);
        long end = ReadOffset(offsetsJson[1], "end", Error);
        if (begin > end) throw Error($"data_offsets begin {begin} is greater than end {end}.");
        if (end > dataLength) throw Error($"data_offsets end {end} lies beyond the data buffer of {dataLength} bytes (is the file truncated?).");

        int itemSize = SafeTensorsDtype.ItemSize(dtype);
        Int128 bytes = itemSize;
        foreach (long d in shape)
        {
            bytes *= d;
            if (bytes > long.MaxValue)
                throw Error($"the size of shape [{string.Join(", ", shape)}] x {itemSize} bytes overflows a 64-bit byte count.");
        }
        if ((long)bytes != end - begin)
            throw Error($"data_offsets [{begin}, {end}] span {end - begin} bytes, but shape [{string.Join(", ", shape)}] of {dtypeName} needs {(long)bytes}.");

        return new SafeTensorsTensorInfo(name, dtypeName, dtype, shape, begin, end);
    }

    static long ReadOffset(JsonElement value, string which, Func<string, SafeTensorsFormatException> error)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long offset))
            throw error($"data_offsets {which} must be an integer in 64-bit range, found {value.GetRawText()}.");
        if (offset < 0) throw error($"data_offsets {which} is negative ({offset}).");
        return offset;
    }

    static void CheckLayout(string path, List<SafeTensorsTensorInfo> tensors, long dataLength)
    {
        var byOffset = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
        long covered = 0;
        SafeTensorsTensorInfo? previous = null;
        foreach (var t in byOffset)
        {
            if (t.Begin < covered)
                throw new SafeTensorsFormatException(path, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] overlap tensor '{previous!.Name}' at [{previous.Begin}, {previous.End}].");
            if (t.Begin > covered)
                throw new SafeTensorsFormatException(path, t.Name,
                    $"bytes [{covered}, {t.Begin}) before this tensor belong to no tensor; the data buffer must be fully covered.");
            covered = t.End;
            previous = t;
        }
        if (covered != dataLength)
            throw new SafeTensorsFormatException(path, null,
                $"bytes [{covered}, {dataLength}) at the end of the data buffer belong to no tensor"
                + (previous is null ? "" : $" (the last one, '{previous.Name}', ends at {covered})")
                + "; the data buffer must be fully covered.");
    }
}
