using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>
/// An open safetensors file: the header is parsed and validated at once, the data stays memory-mapped and each tensor is
/// read on demand with one copy from the mapped pages into a fresh tensor (no intermediate managed buffer), so a 4 GB
/// checkpoint is never held twice.
/// </summary>
/// <remarks>
/// Layout (the format of huggingface/safetensors): an 8-byte little-endian unsigned header length N, N bytes of UTF-8
/// JSON, then the data buffer; each tensor's <c>data_offsets</c> are relative to the start of that buffer, its bytes
/// little-endian and row-major. See <see cref="SafeTensorsHeader"/> for the validation rules.
/// Reading from several threads at once is safe; disposing while another thread reads is not.
/// </remarks>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>The largest piece copied at once: a tensor over 2 GB is copied in slices, as spans are int-sized.</summary>
    internal const long DefaultChunkBytes = 1L << 30;

    readonly Dictionary<string, SafeTensorsTensorInfo> byName;
    readonly MemoryMappedFile map;
    readonly MemoryMappedViewAccessor view;
    byte* data;

    SafeTensorsFile(string path, FileStream stream)
    {
        FilePath = path;
        (long headerLength, List<SafeTensorsTensorInfo> tensors, Dictionary<string, string> metadata) = ReadHeader(path, stream);
        DataOffset = 8 + headerLength;
        Tensors = tensors;
        Keys = tensors.Select(t => t.Name).ToArray();
        Metadata = metadata;
        byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);

        map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            data = basePointer + view.PointerOffset + DataOffset;
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates <paramref name="path"/>; the caller disposes the result.</summary>
    /// <exception cref="SafeTensorsFormatException">The header or the layout is invalid.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The path is a FIFO, device, socket or directory (refused before opening: a FIFO would block forever).</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileKind.RequireRegularForRead(path, "safetensors file");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
        try { return new SafeTensorsFile(path, stream); }
        catch { stream.Dispose(); throw; }
    }

    /// <summary>The path the file was opened with.</summary>
    public string FilePath { get; }

    /// <summary>The absolute file offset of the data buffer: 8 + the header length.</summary>
    public long DataOffset { get; }

    /// <summary>The tensor names, in the order of the header (for files written by safetensors or by us, also data order).</summary>
    public IReadOnlyList<string> Keys { get; }

    /// <summary>Each tensor's dtype, shape and byte range, in the order of <see cref="Keys"/>.</summary>
    public IReadOnlyList<SafeTensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map of the header; empty when there is none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Whether the file holds a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => byName.ContainsKey(name);

    /// <summary>The header entry of tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor; the message names the file.</exception>
    public SafeTensorsTensorInfo GetInfo(string name) =>
        byName.TryGetValue(name, out var info)
            ? info
            : throw new KeyNotFoundException($"Safetensors file '{FilePath}' has no tensor '{name}'.");

    /// <summary>Reads tensor <paramref name="name"/> into a new CPU tensor of the file's dtype; the caller owns it.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="ObjectDisposedException">The file was disposed.</exception>
    public Tensor ReadTensor(string name) => ReadTensor(name, DefaultChunkBytes);

    /// <summary>Reads every tensor, in the order of <see cref="Keys"/>; the caller owns the tensors.</summary>
    public Dictionary<string, Tensor> ReadAll()
    {
        var result = new Dictionary<string, Tensor>(Keys.Count, StringComparer.Ordinal);
        try
        {
            foreach (string key in Keys) result.Add(key, ReadTensor(key));
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary><see cref="ReadTensor(string)"/> with an explicit slice size, so tests can exercise the sliced path.</summary>
    internal Tensor ReadTensor(string name, long chunkBytes)
    {
        ObjectDisposedException.ThrowIf(data == null, this);
        var info = GetInfo(name);
        var tensor = empty(info.Shape.ToArray(), info.Dtype);
        try
        {
            if (info.ByteLength > 0)
            {
                CopyIntoTensor(data + info.Begin, info.ByteLength, tensor, chunkBytes);
                MappedPages.Release(data + info.Begin, info.ByteLength);   // the copy is all we keep (see MappedPages)
            }
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        return tensor;
    }

    /// <summary>Releases the mapping and the file.</summary>
    public void Dispose()
    {
        if (data == null) return;
        data = null;
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        map.Dispose();
    }

    /// <summary>Copies <paramref name="byteLength"/> bytes from <paramref name="source"/> into a fresh contiguous CPU tensor.</summary>
    static void CopyIntoTensor(byte* source, long byteLength, Tensor destination, long chunkBytes)
    {
        if (byteLength <= chunkBytes && byteLength <= int.MaxValue)
        {
            new ReadOnlySpan<byte>(source, (int)byteLength).CopyTo(TensorBytes(destination, byteLength));
            return;
        }
        long itemSize = destination.ElementSize;
        long perChunk = Math.Max(1, Math.Min(chunkBytes, int.MaxValue) / itemSize);
        long count = byteLength / itemSize;
        using var flat = destination.view(-1);
        for (long start = 0; start < count; start += perChunk)
        {
            long n = Math.Min(perChunk, count - start);
            using var part = flat.narrow(0, start, n);
            new ReadOnlySpan<byte>(source + start * itemSize, (int)(n * itemSize)).CopyTo(TensorBytes(part, n * itemSize));
        }
    }

    /// <summary>The memory of a contiguous CPU tensor, checked against the expected size.</summary>
    internal static Span<byte> TensorBytes(Tensor tensor, long expected)
    {
        var span = tensor.bytes;
        if (span.Length != expected)
            throw new InvalidOperationException($"Engine returned {span.Length} bytes for a tensor of {expected} bytes.");
        return span;
    }

    static (long HeaderLength, List<SafeTensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) ReadHeader(
        string path, FileStream stream)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new SafeTensorsFormatException(path, null, $"the file has {fileLength} bytes, fewer than the 8-byte header length.");
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > SafeTensorsHeader.MaxHeaderBytes)
            throw new SafeTensorsFormatException(path, null,
                $"the header length {headerLength} exceeds the limit of {SafeTensorsHeader.MaxHeaderBytes} bytes.");
        if ((long)headerLength > fileLength - 8)
            throw new SafeTensorsFormatException(path, null,
                $"the header length {headerLength} runs past the end of the file ({fileLength - 8} bytes follow the length; is it truncated?).");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataLength = fileLength - 8 - (long)headerLength;
        var (tensors, metadata) = SafeTensorsHeader.Parse(path, header, dataLength);
        return ((long)headerLength, tensors, metadata);
    }
}
