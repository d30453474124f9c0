using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>
/// Reads and writes the safetensors format of huggingface/safetensors, interoperable with Python's <c>safetensors</c>:
/// an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
/// <c>{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c> padded with spaces to a
/// multiple of 8, then the data buffer (offsets relative to its start, little-endian, row-major).
/// </summary>
/// <example>
/// <code>
/// SafeTensors.Save("w.safetensors", new Dictionary&lt;string, Tensor&gt; { ["conv_in.weight"] = w },
///     new Dictionary&lt;string, string&gt; { ["format"] = "pt" });
/// using var file = SafeTensors.Open("w.safetensors");
/// using var w2 = file.ReadTensor("conv_in.weight");
/// </code>
/// </example>
public static class SafeTensors
{
    /// <summary>Reads every tensor (CPU, the file's dtype) through a memory map; keys in the header's order.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>New tensors that the caller owns and disposes.</returns>
    /// <exception cref="SafeTensorsFormatException">The file is not valid safetensors; the message names it.</exception>
    public static Dictionary<string, Tensor> Load(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        return file.ReadAll();
    }

    /// <summary>Opens <paramref name="path"/> lazily: the header is validated now, tensors are read on demand.</summary>
    /// <returns>The open file; dispose it to release the memory map.</returns>
    /// <exception cref="SafeTensorsFormatException">The file is not valid safetensors; the message names it.</exception>
    public static SafeTensorsFile Open(string path) => SafeTensorsFile.Open(path);

    /// <summary>The <c>__metadata__</c> map of <paramref name="path"/> (empty if none); no tensor data is read.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is not valid safetensors; the message names it.</exception>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        return new Dictionary<string, string>(file.Metadata);
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically (through <see cref="AtomicFile"/>).
    /// Tensors may have any supported dtype (see <see cref="SafeTensorsDtype"/>), any device and any strides; the inputs
    /// are not modified or disposed.
    /// </summary>
    /// <remarks>
    /// As Python's safetensors does, the data is laid out by dtype (I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL), then
    /// by name (UTF-8 bytes), so that every tensor starts at a multiple of its item size; the header is compact JSON that
    /// lists <c>__metadata__</c> (when given) and then the tensors in that order, padded with spaces to a multiple of 8
    /// bytes. For the same tensors and metadata the file equals Python's byte for byte.
    /// </remarks>
    /// <param name="path">The target file; its directory is created when missing.</param>
    /// <param name="tensors">The tensors by name; <c>"__metadata__"</c> is reserved.</param>
    /// <param name="metadata">Optional free-form string pairs stored as <c>__metadata__</c>.</param>
    /// <exception cref="ArgumentException">A name is reserved, a tensor is null, or a dtype is not supported.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        => Save(path, tensors, metadata, SafeTensorsFile.DefaultChunkBytes);

    internal static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata, long chunkBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this writer copies memory as is.");

        var entries = new List<Entry>(tensors.Count);
        foreach (var (name, tensor) in tensors)
        {
            if (name == SafeTensorsHeader.MetadataKey)
                throw new ArgumentException($"'{SafeTensorsHeader.MetadataKey}' is reserved for metadata and cannot name a tensor.", nameof(tensors));
            if (tensor is null) throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
            if (!SafeTensorsDtype.IsSupported(tensor.dtype))
                throw new ArgumentException(
                    $"Tensor '{name}' has dtype {tensor.dtype}; supported: {string.Join(", ", SafeTensorsDtype.SupportedNames)}.", nameof(tensors));
            int itemSize = SafeTensorsDtype.ItemSize(tensor.dtype);
            entries.Add(new Entry(name, tensor, SafeTensorsDtype.ToName(tensor.dtype), itemSize, tensor.shape, tensor.numel() * itemSize));
        }
        // Python's order: dtype rank, then name by UTF-8 bytes; the bytes then match Python's file for the same input.
        entries.Sort((a, b) =>
        {
            int byType = SafeTensorsDtype.WriteRank(a.Tensor.dtype).CompareTo(SafeTensorsDtype.WriteRank(b.Tensor.dtype));
            return byType != 0 ? byType : Encoding.UTF8.GetBytes(a.Name).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b.Name));
        });

        byte[] header = BuildHeader(entries, metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var e in entries) WriteTensorData(stream, e.Tensor, e.ByteLength, chunkBytes);
        });
    }

    readonly record struct Entry(string Name, Tensor Tensor, string DtypeName, int ItemSize, long[] Shape, long ByteLength);

    static byte[] BuildHeader(List<Entry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    if (value is null) throw new ArgumentException($"Metadata value of '{key}' is null.", nameof(metadata));
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var e in entries)
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", e.DtypeName);
                json.WriteStartArray("shape");
                foreach (long d in e.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += e.ByteLength;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        // Pad with spaces (valid JSON whitespace) so that the data buffer starts at a multiple of 8, as Python does.
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    /// <summary>Writes the raw bytes of <paramref name="tensor"/>, through a contiguous CPU copy only when it needs one.</summary>
    static void WriteTensorData(Stream stream, Tensor tensor, long byteLength, long chunkBytes)
    {
        if (byteLength == 0) return;
        Tensor? owned = null;
        try
        {
            var source = tensor;
            if (source.device_type != DeviceType.CPU) source = owned = source.cpu();
            if (!source.is_contiguous())
            {
                var contiguous = source.contiguous();
                owned?.Dispose();
                source = owned = contiguous;
            }
            if (byteLength <= chunkBytes && byteLength <= int.MaxValue)
            {
                stream.Write(SafeTensorsFile.TensorBytes(source, byteLength));
                return;
            }
            long itemSize = source.ElementSize;
            long perChunk = Math.Max(1, Math.Min(chunkBytes, int.MaxValue) / itemSize);
            long count = byteLength / itemSize;
            using var flat = source.view(-1);
            for (long start = 0; start < count; start += perChunk)
            {
                long n = Math.Min(perChunk, count - start);
                using var part = flat.narrow(0, start, n);
                stream.Write(SafeTensorsFile.TensorBytes(part, n * itemSize));
            }
        }
        finally
        {
            owned?.Dispose();
        }
    }
}
