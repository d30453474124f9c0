using System.Text.Json;

namespace Latent.Core.Data;

/// <summary>One example of an image folder: an image file and its captions, as one line of <c>metadata.jsonl</c> says.</summary>
/// <param name="FileName">The <c>file_name</c> value: the image's path relative to the folder, with forward slashes.</param>
/// <param name="FullPath">The image's absolute path.</param>
/// <param name="Captions">The <c>text</c> value: one caption, or several (a JSON list); never empty.</param>
/// <param name="Line">The 1-based line of <c>metadata.jsonl</c> it came from, for error messages.</param>
/// <param name="Split">The <c>split</c> value (<c>train</c> when the line has none).</param>
/// <param name="Fields">Every other field of the line, verbatim (e.g. <c>source</c>, <c>unified</c>, <c>category</c>).</param>
public sealed record ImageFolderRecord(
    string FileName,
    string FullPath,
    IReadOnlyList<string> Captions,
    int Line,
    string Split,
    IReadOnlyDictionary<string, JsonElement> Fields);

/// <summary>A line of <c>metadata.jsonl</c> that was skipped because it was bad (only with <see cref="BadRecordPolicy.Skip"/>).</summary>
/// <param name="Line">The 1-based line number.</param>
/// <param name="FileName">The <c>file_name</c> it named, or null when the line could not be parsed that far.</param>
/// <param name="Reason">What was wrong, in the words the error would have used.</param>
public sealed record SkippedRecord(int Line, string? FileName, string Reason);

/// <summary>What to do with a bad line of <c>metadata.jsonl</c> (invalid JSON, missing or corrupt image, no caption).</summary>
public enum BadRecordPolicy
{
    /// <summary>Throw an <see cref="InvalidDataException"/> naming the file and line (the default: bad data is a bug to fix).</summary>
    Fail,

    /// <summary>Leave the record out, count it and report it in <see cref="ImageFolderDataset.Skipped"/>.</summary>
    Skip,
}

/// <summary>How thoroughly <see cref="ImageFolderDataset.Read"/> checks the image files.</summary>
public enum ImageCheck
{
    /// <summary>Decode every image fully, so a corrupt or truncated file is found before training starts (the default).</summary>
    Decode,

    /// <summary>Check only that each file exists; a corrupt image is then found when the loader reads it.</summary>
    Exists,
}

/// <summary>Options for reading an image folder.</summary>
public sealed record ImageFolderOptions
{
    /// <summary>Keep only the records of this split (<c>train</c>, <c>validation</c>, ...); null keeps all of them.</summary>
    public string? Split { get; init; }

    /// <summary>Fail on the first bad line (the default) or skip bad lines and count them.</summary>
    public BadRecordPolicy OnBadRecord { get; init; } = BadRecordPolicy.Fail;

    /// <summary>Decode every image while reading (the default), or only check that it exists.</summary>
    public ImageCheck Check { get; init; } = ImageCheck.Decode;
}
