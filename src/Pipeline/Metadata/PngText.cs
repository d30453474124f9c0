using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using Latent.Core.IO;

namespace Latent.Pipeline.Metadata;

/// <summary>The PNG chunk a text entry was stored in.</summary>
public enum PngTextKind
{
    /// <summary><c>tEXt</c>: Latin-1 text, uncompressed.</summary>
    Text,
    /// <summary><c>zTXt</c>: Latin-1 text, zlib-compressed (read only).</summary>
    CompressedText,
    /// <summary><c>iTXt</c>: UTF-8 text, uncompressed when we write it, possibly compressed when others did.</summary>
    InternationalText,
}

/// <summary>One keyword/text pair from a PNG file.</summary>
/// <param name="Keyword">The chunk's keyword (1-79 Latin-1 characters), e.g. <c>parameters</c>.</param>
/// <param name="Text">The decoded text.</param>
/// <param name="Kind">The chunk type it came from.</param>
public sealed record PngTextEntry(string Keyword, string Text, PngTextKind Kind);

/// <summary>
/// Reads and writes PNG text chunks (<c>tEXt</c>, <c>iTXt</c>; <c>zTXt</c> and compressed <c>iTXt</c> are read too) by
/// rewriting the chunk stream, which is how A1111 and ComfyUI store generation parameters.
/// </summary>
/// <remarks>
/// Hand-written because Skia's PNG encoder has no way to add text chunks (SKPngEncoderOptions offers filters and zlib
/// level only), and a PNG's chunk layout is simple: an 8-byte signature, then chunks of
/// <c>length (4, big-endian) | type (4) | data | CRC-32 of type and data (4)</c>, starting with IHDR and ending with
/// IEND. Written text goes right after IHDR, so readers that stop early still find it; an existing chunk with the same
/// keyword is replaced. Text that Latin-1 can represent goes in <c>tEXt</c> (as PIL does), other text in an
/// uncompressed <c>iTXt</c> with empty language tag and translated keyword.
/// </remarks>
public static class PngText
{
    static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];
    static readonly Encoding Latin1 = Encoding.Latin1;

    /// <summary>Reads every text entry of a PNG, in file order.</summary>
    /// <param name="png">The PNG file's bytes.</param>
    /// <param name="source">What the bytes are, for error messages.</param>
    /// <returns>The entries; empty when the file has none.</returns>
    /// <exception cref="InvalidDataException">The signature, a chunk's length or CRC, or a text chunk's layout is wrong; the message names the chunk.</exception>
    public static IReadOnlyList<PngTextEntry> Read(byte[] png, string source = "PNG bytes")
    {
        ArgumentNullException.ThrowIfNull(png);
        var entries = new List<PngTextEntry>();
        foreach (PngChunk chunk in PngChunk.ReadAll(png, source))
        {
            if (chunk.Type is "tEXt" or "zTXt" or "iTXt")
                entries.Add(DecodeText(png.AsSpan(chunk.DataOffset, chunk.Length), chunk, source));
        }
        return entries;
    }

    /// <summary>Reads every text entry of the PNG file at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid PNG; the message names the path and chunk.</exception>
    public static IReadOnlyList<PngTextEntry> ReadFile(string path) => Read(ReadPngFile(path), path);

    /// <summary>The text stored under <paramref name="keyword"/>, or null when there is none.</summary>
    /// <param name="png">The PNG file's bytes.</param>
    /// <param name="keyword">The keyword to look for (case-sensitive, as PNG keywords are).</param>
    /// <exception cref="InvalidDataException">As for <see cref="Read"/>.</exception>
    public static string? Get(byte[] png, string keyword) =>
        Read(png).FirstOrDefault(e => e.Keyword == keyword)?.Text;

    /// <summary>Returns a copy of <paramref name="png"/> with <paramref name="text"/> stored under <paramref name="keyword"/>.</summary>
    /// <exception cref="ArgumentException">The keyword is not a valid PNG keyword, or the text contains a NUL character.</exception>
    /// <exception cref="InvalidDataException">As for <see cref="Read"/>.</exception>
    public static byte[] Write(byte[] png, string keyword, string text) =>
        Write(png, [new KeyValuePair<string, string>(keyword, text)]);

    /// <summary>
    /// Returns a copy of <paramref name="png"/> with the given entries as text chunks right after IHDR, in the order given;
    /// existing text chunks (<c>tEXt</c>, <c>zTXt</c>, <c>iTXt</c>) with the same keywords are removed.
    /// </summary>
    /// <param name="png">The PNG file's bytes (validated as by <see cref="Read"/>).</param>
    /// <param name="texts">Keyword/text pairs; keywords must be distinct.</param>
    /// <exception cref="ArgumentException">A keyword is invalid or repeated, or a text contains a NUL character.</exception>
    /// <exception cref="InvalidDataException">As for <see cref="Read"/>.</exception>
    public static byte[] Write(byte[] png, IEnumerable<KeyValuePair<string, string>> texts)
    {
        ArgumentNullException.ThrowIfNull(png);
        ArgumentNullException.ThrowIfNull(texts);
        var list = texts.ToList();
        var keywords = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string keyword, string text) in list)
        {
            ValidateKeyword(keyword);
            ArgumentNullException.ThrowIfNull(text, $"text of '{keyword}'");
            if (text.Contains('\0'))
                throw new ArgumentException($"the text for PNG keyword '{keyword}' contains a NUL character, which text chunks cannot hold", nameof(texts));
            if (!keywords.Add(keyword))
                throw new ArgumentException($"PNG keyword '{keyword}' is given twice; each keyword may appear once", nameof(texts));
        }

        List<PngChunk> chunks = PngChunk.ReadAll(png, "PNG bytes");
        using var output = new MemoryStream(png.Length + list.Sum(t => t.Key.Length + t.Value.Length * 4 + 32));
        output.Write(Signature);
        foreach (PngChunk chunk in chunks)
        {
            bool replaced = chunk.Type is "tEXt" or "zTXt" or "iTXt" &&
                keywords.Contains(KeywordOf(png.AsSpan(chunk.DataOffset, chunk.Length), chunk, "PNG bytes"));
            if (!replaced)
                output.Write(png, chunk.Offset, chunk.TotalLength);
            if (chunk.Type == "IHDR")
            {
                foreach ((string keyword, string text) in list)
                    WriteTextChunk(output, keyword, text);
            }
        }
        return output.ToArray();
    }

    /// <summary>Stores <paramref name="text"/> under <paramref name="keyword"/> in the PNG file at <paramref name="path"/>, atomically.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentException">As for <see cref="Write(byte[], string, string)"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid PNG.</exception>
    public static void WriteFile(string path, string keyword, string text)
    {
        byte[] png = ReadPngFile(path);
        PngChunk.ReadAll(png, path); // validate with the path in the message before rewriting
        AtomicFile.WriteAllBytes(path, Write(png, keyword, text));
    }

    static byte[] ReadPngFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"PNG file not found: '{path}'", path);
        FileKind.RequireRegularForRead(path, "PNG file");
        return File.ReadAllBytes(path);
    }

    /// <summary>Throws unless <paramref name="keyword"/> follows PNG's rules: 1-79 printable Latin-1 characters, no leading, trailing or double spaces.</summary>
    static void ValidateKeyword(string keyword)
    {
        ArgumentNullException.ThrowIfNull(keyword);
        string problem =
            keyword.Length is 0 or > 79 ? $"must have 1-79 characters; it has {keyword.Length}" :
            keyword.Any(c => c is < ' ' or > '~' and < '\u00A1' or > '\u00FF') ? "must use printable Latin-1 characters only (32-126, 161-255)" :
            keyword[0] == ' ' || keyword[^1] == ' ' ? "must not start or end with a space" :
            keyword.Contains("  ", StringComparison.Ordinal) ? "must not contain two spaces in a row" :
            "";
        if (problem.Length > 0)
            throw new ArgumentException($"invalid PNG text keyword '{keyword}': it {problem}", nameof(keyword));
    }

    static bool IsLatin1(string text) => text.All(c => c <= '\u00FF');

    static void WriteTextChunk(Stream output, string keyword, string text)
    {
        byte[] key = Latin1.GetBytes(keyword);
        byte[] data;
        string type;
        if (IsLatin1(text))
        {
            // tEXt: keyword NUL text(Latin-1)
            type = "tEXt";
            data = [.. key, 0, .. Latin1.GetBytes(text)];
        }
        else
        {
            // iTXt: keyword NUL compression-flag(0) method(0) language-tag NUL translated-keyword NUL text(UTF-8)
            type = "iTXt";
            data = [.. key, 0, 0, 0, 0, 0, .. Encoding.UTF8.GetBytes(text)];
        }
        PngChunk.Write(output, type, data);
    }

    static string KeywordOf(ReadOnlySpan<byte> data, PngChunk chunk, string source)
    {
        int nul = data.IndexOf((byte)0);
        if (nul <= 0)
            throw new InvalidDataException($"{source}: {chunk.Describe()} has no keyword terminated by a NUL byte");
        return Latin1.GetString(data[..nul]);
    }

    static PngTextEntry DecodeText(ReadOnlySpan<byte> data, PngChunk chunk, string source)
    {
        string keyword = KeywordOf(data, chunk, source);
        ReadOnlySpan<byte> rest = data[(keyword.Length + 1)..];
        switch (chunk.Type)
        {
            case "tEXt":
                return new(keyword, Latin1.GetString(rest), PngTextKind.Text);
            case "zTXt":
                if (rest.Length < 1 || rest[0] != 0)
                    throw new InvalidDataException($"{source}: {chunk.Describe()} ('{keyword}') has an unknown compression method; only 0 (zlib) exists");
                return new(keyword, Latin1.GetString(Inflate(rest[1..], chunk, source)), PngTextKind.CompressedText);
            default: // iTXt
                if (rest.Length < 2)
                    throw new InvalidDataException($"{source}: {chunk.Describe()} ('{keyword}') ends before its compression fields");
                bool compressed = rest[0] != 0;
                rest = rest[2..];
                for (int field = 0; field < 2; field++) // language tag, translated keyword
                {
                    int nul = rest.IndexOf((byte)0);
                    if (nul < 0)
                        throw new InvalidDataException($"{source}: {chunk.Describe()} ('{keyword}') lacks the NUL after its language tag or translated keyword");
                    rest = rest[(nul + 1)..];
                }
                byte[] utf8 = compressed ? Inflate(rest, chunk, source) : rest.ToArray();
                return new(keyword, Encoding.UTF8.GetString(utf8), PngTextKind.InternationalText);
        }
    }

    static byte[] Inflate(ReadOnlySpan<byte> zlib, PngChunk chunk, string source)
    {
        try
        {
            using var input = new MemoryStream(zlib.ToArray());
            using var inflater = new ZLibStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            inflater.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source}: {chunk.Describe()} holds corrupt zlib data ({e.Message})", e);
        }
    }
}

/// <summary>Where one chunk lies in a PNG's bytes. <see cref="ReadAll"/> validates the whole stream.</summary>
/// <param name="Type">The 4-letter chunk type.</param>
/// <param name="Offset">Offset of the chunk's length field.</param>
/// <param name="Length">Length of the data part.</param>
/// <param name="Index">Position in the chunk stream (0 = IHDR).</param>
readonly record struct PngChunk(string Type, int Offset, int Length, int Index)
{
    /// <summary>Offset of the data part.</summary>
    public int DataOffset => Offset + 8;

    /// <summary>Bytes the chunk occupies: length, type, data and CRC.</summary>
    public int TotalLength => Length + 12;

    /// <summary>"chunk 3 'tEXt' at byte 33", for error messages.</summary>
    public string Describe() => $"chunk {Index} '{Type}' at byte {Offset}";

    /// <summary>
    /// Splits <paramref name="png"/> into chunks, checking the signature, each length and CRC, that IHDR comes first and
    /// that IEND is present; bytes after IEND are ignored.
    /// </summary>
    public static List<PngChunk> ReadAll(byte[] png, string source)
    {
        ReadOnlySpan<byte> signature = [137, 80, 78, 71, 13, 10, 26, 10];
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(signature))
            throw new InvalidDataException(
                $"{source}: not a PNG (the first 8 bytes are {Convert.ToHexString(png, 0, Math.Min(8, png.Length))}; expected 89504E470D0A1A0A)");
        var chunks = new List<PngChunk>();
        int offset = 8;
        while (true)
        {
            if (offset + 12 > png.Length)
                throw new InvalidDataException($"{source}: truncated after {chunks.Count} chunks at byte {offset}; no IEND chunk");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset));
            string type = Encoding.ASCII.GetString(png, offset + 4, 4);
            var chunk = new PngChunk(type, offset, (int)Math.Min(length, int.MaxValue), chunks.Count);
            if (length > int.MaxValue || offset + 12L + length > png.Length)
                throw new InvalidDataException($"{source}: {chunk.Describe()} claims {length} data bytes but the file ends at byte {png.Length}");
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(chunk.DataOffset + chunk.Length));
            uint computed = Crc32.HashToUInt32(png.AsSpan(offset + 4, 4 + chunk.Length));
            if (stored != computed)
                throw new InvalidDataException($"{source}: {chunk.Describe()} has a bad CRC (stored {stored:X8}, computed {computed:X8}); the file is corrupt");
            if (chunks.Count == 0 && type != "IHDR")
                throw new InvalidDataException($"{source}: {chunk.Describe()} comes first; a PNG must start with IHDR");
            chunks.Add(chunk);
            offset += chunk.TotalLength;
            if (type == "IEND")
                return chunks;
        }
    }

    /// <summary>Writes one chunk (length, type, data, CRC-32 of type and data).</summary>
    public static void Write(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)data.Length);
        Encoding.ASCII.GetBytes(type, header[4..]);
        var crc = new Crc32();
        crc.Append(header[4..]);
        crc.Append(data);
        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(trailer, crc.GetCurrentHashAsUInt32());
        output.Write(header);
        output.Write(data);
        output.Write(trailer);
    }
}
