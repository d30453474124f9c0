using System.IO.Compression;
using System.IO.Hashing;
using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>
/// The archive side of a torch.save zip: finds <c>PREFIX/data.pkl</c> (the prefix is the saved file's stem and varies),
/// and reads each storage <c>PREFIX/data/KEY</c> once, straight into a new 1-D tensor of its dtype.
/// </summary>
internal sealed class StorageReader
{
    /// <summary>The largest piece read at once: spans are int-sized, so a storage over 2 GB is read in slices.</summary>
    const long ChunkBytes = 1L << 30;

    readonly string path;
    readonly ZipArchive archive;
    readonly string prefix;
    readonly Dictionary<string, Tensor> storages = new(StringComparer.Ordinal);

    public StorageReader(string path, ZipArchive archive)
    {
        this.path = path;
        this.archive = archive;
        var pickles = archive.Entries.Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)
                                                 && e.FullName.Count(c => c == '/') <= 1).ToList();
        if (pickles.Count != 1)
            throw new PickleFormatException(path, $"expected one PREFIX/data.pkl in the archive; found {pickles.Count} " +
                $"(entries: {string.Join(", ", archive.Entries.Take(5).Select(e => e.FullName))}{(archive.Entries.Count > 5 ? ", ..." : "")})");
        prefix = pickles[0].FullName[..^"data.pkl".Length];
        var byteOrder = archive.GetEntry(prefix + "byteorder");
        if (byteOrder is not null)
        {
            using var reader = new StreamReader(byteOrder.Open());
            string order = reader.ReadToEnd().Trim();
            if (order != "little") throw new PickleFormatException(path, $"byteorder is '{order}'; only 'little' is supported");
        }
    }

    /// <summary>The bytes of <c>data.pkl</c>.</summary>
    public byte[] ReadPickle()
    {
        var entry = archive.GetEntry(prefix + "data.pkl")!;
        if (entry.Length > int.MaxValue) throw new PickleFormatException(path, $"data.pkl is {entry.Length} bytes; a state dict's pickle is far smaller");
        var bytes = new byte[entry.Length];
        using var s = entry.Open();
        int n = s.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        if (n != bytes.Length) throw new PickleFormatException(path, $"data.pkl ends after {n} of {bytes.Length} bytes (truncated)");
        return bytes;
    }

    /// <summary>torch's persistent id <c>("storage", torch.XStorage, key, location, numel)</c> -> the storage as a 1-D tensor.</summary>
    public object PersistentLoad(object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage" || t[1] is not PickleGlobal { Kind: PickleGlobalKind.Storage } type
            || t[2] is not string key || t[4] is not long numel || numel < 0)
            throw new PickleFormatException(path, $"unexpected persistent id {Show(pid)}; expected ('storage', torch.XStorage, key, location, numel)");
        if (storages.TryGetValue(key, out var known)) return known;
        var storage = ReadStorage(key, type.Dtype, numel);
        storages[key] = storage;
        return storage;
    }

    Tensor ReadStorage(string key, ScalarType dtype, long numel)
    {
        var entry = archive.GetEntry($"{prefix}data/{key}")
                    ?? throw new PickleFormatException(path, $"storage '{key}' is named by the pickle but '{prefix}data/{key}' is not in the archive");
        // Sizes are checked before anything is allocated: a forged numel cannot make us reserve memory the file lacks.
        long bytes = numel > long.MaxValue / 8 ? -1 : numel * SafeTensorsDtype.ItemSize(dtype);
        if (entry.Length != bytes)
            throw new PickleFormatException(path, $"storage '{key}' holds {entry.Length} bytes; {numel} {dtype} elements need {numel}x{SafeTensorsDtype.ItemSize(dtype)}");
        var storage = empty(numel, dtype);
        // The zip's CRC-32 is checked as the bytes arrive (ZipArchive does not check it for stored entries), so a
        // damaged storage is an error rather than silently wrong weights.
        var crc = new Crc32();
        using var source = entry.Open();
        long perChunk = Math.Max(1, ChunkBytes / storage.ElementSize);
        for (long start = 0; start < numel; start += perChunk)
        {
            long n = Math.Min(perChunk, numel - start);
            using var part = storage.narrow(0, start, n);
            int read = source.ReadAtLeast(part.bytes, (int)(n * storage.ElementSize), throwOnEndOfStream: false);
            if (read != n * storage.ElementSize)
                throw new PickleFormatException(path, $"storage '{key}' ends after {start * storage.ElementSize + read} of {bytes} bytes (truncated)");
            crc.Append(part.bytes);
        }
        if (crc.GetCurrentHashAsUInt32() != entry.Crc32)
            throw new PickleFormatException(path, $"storage '{key}' fails its CRC-32 check (0x{crc.GetCurrentHashAsUInt32():x8}, the archive says 0x{entry.Crc32:x8}): the file is corrupt");
        return storage;
    }

    static string Show(object? pid) => pid is object?[] items
        ? "(" + string.Join(", ", items.Select(RestrictedUnpickler.Describe)) + ")"
        : RestrictedUnpickler.Describe(pid);
}
