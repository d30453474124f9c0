using System.CommandLine;
using Latent.Core.Data;

namespace Latent.Cli;

/// <summary>How the commands read image folders: the shared <c>--skip-bad</c> option and its report, and validation splits that may be absent.</summary>
public static class DataOptions
{
    /// <summary><c>--skip-bad</c>: count and list bad lines instead of failing on the first.</summary>
    public static readonly Option<bool> SkipBad = new("--skip-bad")
    {
        Description = "Skip bad metadata lines and missing or corrupt images (counted and listed) instead of failing on the first.",
    };

    /// <summary>Reads one split of <paramref name="folder"/> under the parsed <c>--skip-bad</c>, reporting what was skipped.</summary>
    public static ImageFolderDataset Read(ParseResult parsed, string folder, string? split, ImageCheck check = ImageCheck.Decode)
    {
        var options = new ImageFolderOptions
        {
            Split = split,
            Check = check,
            OnBadRecord = parsed.GetValue(SkipBad) ? BadRecordPolicy.Skip : BadRecordPolicy.Fail,
        };
        var dataset = ImageFolderDataset.Read(folder, options);
        if (dataset.Skipped.Count > 0)
        {
            Console.WriteLine($"{dataset.Folder}{(split is null ? "" : $" ({split})")}: {dataset.Skipped.Count} bad lines skipped");
            ListSkipped(dataset);
        }
        return dataset;
    }

    /// <summary>As <see cref="Read"/>, but null when the folder has no records of <paramref name="split"/> (a validation split is optional).</summary>
    public static ImageFolderDataset? ReadOptional(ParseResult parsed, string folder, string split)
    {
        try
        {
            return Read(parsed, folder, split);
        }
        catch (InvalidDataException e) when (e.Message.Contains("holds no usable records", StringComparison.Ordinal))
        {
            return null;
        }
    }

    /// <summary>Prints the first 20 skipped lines with their reasons.</summary>
    public static void ListSkipped(ImageFolderDataset dataset)
    {
        foreach (var s in dataset.Skipped.Take(20)) Console.WriteLine($"skipped line {s.Line}: {s.Reason}");
        if (dataset.Skipped.Count > 20) Console.WriteLine($"... and {dataset.Skipped.Count - 20} more");
    }
}
