using System.Text.Json;
using Latent.Core.Config;
using Latent.Core.IO;
using Latent.Core.Imaging;
using SkiaSharp;
using static TorchSharp.torch;

namespace Latent.Core.Data;

/// <summary>
/// A folder of images with captions in <c>metadata.jsonl</c>, the Hugging Face "image folder" convention: one JSON object
/// per line, <c>{"file_name": "a/b.png", "text": "a caption"}</c>, where <c>text</c> may also be a list of captions and any
/// other field is kept (ours: <c>split</c>, <c>source</c>, <c>unified</c>, <c>category</c>).
/// </summary>
/// <remarks>
/// Reading checks every line (valid JSON object, a relative <c>file_name</c> inside the folder, also after
/// resolving symlinks (a link out of the folder is refused), a non-empty caption, an
/// existing and decodable image) and either throws on the first bad line, naming the file and line, or skips the bad
/// lines and lists them (<see cref="BadRecordPolicy.Skip"/>). Blank lines are ignored. Records keep the file's order.
/// </remarks>
public sealed class ImageFolderDataset
{
    /// <summary>The name of the metadata file in the folder.</summary>
    public const string MetadataFile = "metadata.jsonl";

    /// <summary>The split of a line without a <c>split</c> field.</summary>
    public const string DefaultSplit = "train";

    ImageFolderDataset(string folder, IReadOnlyList<ImageFolderRecord> records, IReadOnlyList<SkippedRecord> skipped)
    {
        Folder = folder;
        Records = records;
        Skipped = skipped;
    }

    /// <summary>The folder's absolute path.</summary>
    public string Folder { get; }

    /// <summary>The good records, in file order (of the requested split).</summary>
    public IReadOnlyList<ImageFolderRecord> Records { get; }

    /// <summary>The bad lines that were left out (always empty with <see cref="BadRecordPolicy.Fail"/>).</summary>
    public IReadOnlyList<SkippedRecord> Skipped { get; }

    /// <summary>N, the number of records.</summary>
    public int Count => Records.Count;

    /// <summary>Reads and checks <c>metadata.jsonl</c> in <paramref name="folder"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder has no <c>metadata.jsonl</c>.</exception>
    /// <exception cref="InvalidDataException">A line is bad (with <see cref="BadRecordPolicy.Fail"/>; the message names the
    /// file, the line and the image), or no record is left.</exception>
    public static ImageFolderDataset Read(string folder, ImageFolderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        options ??= new ImageFolderOptions();
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder '{root}' does not exist");
        string metadata = Path.Combine(root, MetadataFile);
        if (!File.Exists(metadata))
            throw new FileNotFoundException(
                $"image folder '{root}' has no {MetadataFile}; expected one JSON object per line, " +
                "{\"file_name\": \"image.png\", \"text\": \"a caption\"}", metadata);

        FileKind.RequireRegularForRead(metadata, "metadata file");

        // 1. Parse every line (cheap, in order), 2. check the images (in parallel), 3. apply the policy in line order.
        var parsed = new List<(int Line, string? FileName, ImageFolderRecord? Record, string? Error)>();
        int lineNumber = 0;
        string? realRoot = FileKind.RealPath(root);
        foreach (string line in File.ReadLines(metadata))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var (record, fileName, error) = ParseLine(root, realRoot, line, lineNumber);
            if (record is not null && options.Split is not null && record.Split != options.Split) continue;
            parsed.Add((lineNumber, fileName, record, error));
        }
        var imageErrors = new string?[parsed.Count];
        Parallel.For(0, parsed.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            if (parsed[i].Record is { } r) imageErrors[i] = CheckImage(r.FullPath, options.Check);
        });

        var records = new List<ImageFolderRecord>();
        var skipped = new List<SkippedRecord>();
        for (int i = 0; i < parsed.Count; i++)
        {
            string? error = parsed[i].Error ?? imageErrors[i];
            if (error is null)
            {
                records.Add(parsed[i].Record!);
                continue;
            }
            if (options.OnBadRecord == BadRecordPolicy.Fail)
                throw new InvalidDataException($"{metadata} line {parsed[i].Line}: {error} (pass --skip-bad / BadRecordPolicy.Skip to skip bad lines)");
            skipped.Add(new SkippedRecord(parsed[i].Line, parsed[i].FileName, error));
        }
        if (records.Count == 0)
        {
            string which = options.Split is null ? "" : $" of split '{options.Split}'";
            throw new InvalidDataException($"{metadata} holds no usable records{which} ({skipped.Count} bad lines skipped)");
        }
        return new ImageFolderDataset(root, records, skipped);
    }

    /// <summary>Reads record <paramref name="index"/>'s image as a <c>[3, H, W]</c> tensor in [-1, 1], on white.</summary>
    /// <param name="index">A record index in [0, N).</param>
    /// <param name="size">Resize to this size; null keeps the file's size.</param>
    /// <exception cref="InvalidDataException">The image cannot be decoded; the message names the file and its line.</exception>
    public Tensor LoadImage(int index, ImageSize? size = null)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"expected a record index in [0, {Count})");
        ImageFolderRecord r = Records[index];
        try { return ImageIO.Load(r.FullPath, size); }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new InvalidDataException($"{Path.Combine(Folder, MetadataFile)} line {r.Line}: {e.Message}", e);
        }
    }

    static (ImageFolderRecord? Record, string? FileName, string? Error) ParseLine(string root, string? realRoot, string line, int lineNumber)
    {
        JsonElement obj;
        try
        {
            using var doc = JsonDocument.Parse(line);
            obj = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return (null, null, $"invalid JSON ({e.Message})");
        }
        if (obj.ValueKind != JsonValueKind.Object) return (null, null, $"expected a JSON object; got a {obj.ValueKind}");
        if (JsonStrings.FindUndecodable(obj) is { } at) return (null, null, $"{JsonStrings.Problem}, at {at}");

        if (!obj.TryGetProperty("file_name", out var fileNameElement) || fileNameElement.ValueKind != JsonValueKind.String
            || string.IsNullOrWhiteSpace(fileNameElement.GetString()))
            return (null, null, "expected a \"file_name\" string (the image's path relative to the folder)");
        string fileName = fileNameElement.GetString()!;
        if (fileName.Contains('\0'))
        {
            string shown = fileName.Replace("\0", "\\0", StringComparison.Ordinal);
            return (null, shown, $"file_name '{shown}' contains a NUL character; expected a file name");
        }
        string fullPath = Path.GetFullPath(Path.Combine(root, fileName));
        if (Path.IsPathRooted(fileName) || !fullPath.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            return (null, fileName, $"file_name '{fileName}' must be a relative path inside the folder");
        // The name stays inside the folder, but a symlink on the way (the file, or a folder) may lead out of it.
        if (realRoot is not null && FileKind.RealPath(fullPath) is { } real
            && !real.StartsWith(realRoot.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            return (null, fileName, $"file_name '{fileName}' leads through a symlink to '{real}', outside the folder; expected images inside it");

        var captions = new List<string>();
        if (!obj.TryGetProperty("text", out var text))
            return (null, fileName, $"'{fileName}' has no \"text\" (expected a caption string or a list of them)");
        if (text.ValueKind == JsonValueKind.String) captions.Add(text.GetString()!);
        else if (text.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in text.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                    return (null, fileName, $"'{fileName}' has a \"text\" list with a {item.ValueKind}; expected strings only");
                captions.Add(item.GetString()!);
            }
        }
        else return (null, fileName, $"'{fileName}' has \"text\" of kind {text.ValueKind}; expected a string or a list of strings");
        if (captions.Count == 0 || captions.Any(string.IsNullOrWhiteSpace))
            return (null, fileName, $"'{fileName}' has an empty caption; expected non-empty text");

        string split = DefaultSplit;
        if (obj.TryGetProperty("split", out var splitElement))
        {
            if (splitElement.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(splitElement.GetString()))
                return (null, fileName, $"'{fileName}' has \"split\" {splitElement.GetRawText()}; expected a name such as \"train\"");
            split = splitElement.GetString()!;
        }
        var fields = new Dictionary<string, JsonElement>();
        foreach (var p in obj.EnumerateObject())
            if (p.Name is not ("file_name" or "text" or "split")) fields[p.Name] = p.Value;
        return (new ImageFolderRecord(fileName, fullPath, captions, lineNumber, split, fields), fileName, null);
    }

    /// <summary>Null when the image is fine, else why not.</summary>
    static string? CheckImage(string path, ImageCheck check)
    {
        if (!File.Exists(path)) return $"image '{path}' does not exist";
        // A FIFO would block the read below forever, a device would be read without end: refuse before opening.
        FileKindValue kind = FileKind.Of(path);
        if (kind != FileKindValue.RegularFile) return $"image '{path}' is {FileKind.Describe(kind)}, not a regular file";
        if (check == ImageCheck.Exists) return null;
        byte[] bytes;
        try { bytes = ImageIO.ReadBytes(path); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException) { return e.Message; }
        if (bytes.Length == 0) return $"image '{path}' is empty (0 bytes)";
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null) return $"image '{path}' is not an image Skia can decode (corrupt, or not PNG/JPEG/WebP/GIF/BMP)";
        try { ImageIO.CheckDeclaredSize(codec.Info.Width, codec.Info.Height, $"image '{path}'"); }
        catch (InvalidDataException e) { return e.Message; }
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var result = codec.GetPixels(info, new byte[info.BytesSize]);
        return result == SKCodecResult.Success ? null : $"image '{path}' is truncated or corrupt (Skia: {result})";
    }
}
