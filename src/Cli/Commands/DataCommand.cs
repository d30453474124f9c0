using System.CommandLine;
using System.Globalization;
using Latent.Cli.Data;
using Latent.Core.Data;
using Spectre.Console;

namespace Latent.Cli.Commands;

/// <summary><c>latent data</c>: build the emoji data set (<c>emoji</c>) and check an image folder (<c>check</c>).</summary>
public static class DataCommand
{
    static readonly Option<string> Out = new("--out")
    {
        Description = "The data set folder to write (created when missing; re-running skips the work already done).",
        Required = true,
    };

    static readonly Option<string?> Cache = new("--cache")
    {
        Description = "Where to cache the npm tarballs; default: OUT/.cache.",
    };

    static readonly Option<int> Jobs = new("--jobs")
    {
        Description = "Images processed at once: 1 or 2 (at most two rsvg-convert processes).",
        DefaultValueFactory = _ => 2,
        Validators = { OptionChecks.Rule<int>(v => v is < 1 or > 2 ? $"--jobs must be 1 or 2; got {v}." : null) },
    };

    static readonly Option<double> ValidationFraction = new("--validation-fraction")
    {
        Description = "The share of renderings held out for validation (never every rendering of an emoji).",
        DefaultValueFactory = _ => EmojiSplit.DefaultFraction,
        Validators =
        {
            OptionChecks.Rule<double>(v => v >= 0 && v < 1 ? null
                : $"--validation-fraction must be in [0, 1); got {v.ToString(CultureInfo.InvariantCulture)}."),
        },
    };

    static readonly Option<string?> ExtraSets = new("--extra-sets")
    {
        Description = $"More art styles, NAME[,NAME...] of: {string.Join(", ", IconifyEmojiSet.Known.Select(k => k.Name))} " +
                      "(Iconify JSON packages on npm, rendered after the default sources and captioned as the emoji of the same code points).",
        Validators = { OptionChecks.Rule<string?>(v => Refusal(v)) },
    };

    static readonly Argument<string> Folder = new("folder") { Description = "An image folder with metadata.jsonl." };

    static readonly Option<string?> Split = new("--split") { Description = "Check only this split (train, validation, ...)." };

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var emoji = new Command("emoji", "Build the default data set: Twemoji, Noto and OpenMoji emoji from npm as 64x64 RGB PNGs with captions and a train/validation split.");
        emoji.Options.Add(Out);
        emoji.Options.Add(Cache);
        emoji.Options.Add(Jobs);
        emoji.Options.Add(ValidationFraction);
        emoji.Options.Add(ExtraSets);
        emoji.SetAction(CommandRunner.Wrap(RunEmoji));

        var check = new Command("check", "Read an image folder (metadata.jsonl + images) and report its records, captions and splits.");
        check.Arguments.Add(Folder);
        check.Options.Add(Split);
        check.Options.Add(DataOptions.SkipBad);
        check.SetAction(CommandRunner.Wrap(RunCheck));

        var command = new Command("data", "Build and check data sets (image folders in the Hugging Face metadata.jsonl convention).");
        command.Subcommands.Add(emoji);
        command.Subcommands.Add(check);
        return command;
    }

    static int RunEmoji(ParseResult parsed)
    {
        GlobalOptions.StartEngine(parsed);
        var options = new EmojiDatasetOptions
        {
            OutDir = parsed.GetValue(Out)!,
            CacheDir = parsed.GetValue(Cache),
            Jobs = parsed.GetValue(Jobs),
            ValidationFraction = parsed.GetValue(ValidationFraction),
            ExtraSets = IconifyEmojiSet.Parse(parsed.GetValue(ExtraSets)),
        };
        EmojiDatasetReport report = AnsiConsole.Profile.Capabilities.Interactive
            ? AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(),
                    new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>();
                    return EmojiDatasetBuilder.Build(options, p =>
                    {
                        if (!tasks.TryGetValue(p.Stage, out var task)) tasks[p.Stage] = task = ctx.AddTask(Markup.Escape(p.Stage), maxValue: p.Total);
                        task.Value = p.Done;
                    });
                })
            : EmojiDatasetBuilder.Build(options, PlainProgress());
        PrintReport(report);
        return 0;
    }

    /// <summary>Without a terminal: one line per stage at 0, 25, 50, 75 and 100%, never a redrawn bar.</summary>
    static Action<EmojiBuildProgress> PlainProgress()
    {
        var printed = new Dictionary<string, int>();
        return p =>
        {
            if (p.Total <= 1 && p.Done < p.Total) return; // one-step stages (fetching): only their end
            int quarter = p.Total == 0 ? 4 : 4 * p.Done / p.Total;
            if (printed.TryGetValue(p.Stage, out int last) && last >= quarter) return;
            printed[p.Stage] = quarter;
            Console.WriteLine($"{p.Stage}: {p.Done}/{p.Total}");
        };
    }

    static void PrintReport(EmojiDatasetReport report)
    {
        // Narrow enough for 80 columns, which is what Spectre assumes when stdout is not a terminal.
        var table = new Table().Border(TableBorder.Rounded).AddColumn("source");
        foreach (string c in new[] { "images", "captions", "train", "val", "new", "seconds" })
            table.AddColumn(new TableColumn(c).RightAligned());
        foreach (var s in report.Sources)
            table.AddRow(s.Source, s.Images.ToString(), s.Captions.ToString(), s.Train.ToString(), s.Validation.ToString(),
                s.Rendered.ToString(), s.Seconds.ToString("F1", CultureInfo.InvariantCulture));
        table.AddRow("total", report.Sources.Sum(s => s.Images).ToString(), report.Sources.Sum(s => s.Captions).ToString(),
            report.Sources.Sum(s => s.Train).ToString(), report.Sources.Sum(s => s.Validation).ToString(),
            report.Sources.Sum(s => s.Rendered).ToString(), report.Seconds.ToString("F1", CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        foreach (var s in report.Sources)
        {
            Console.WriteLine($"{s.Source}: {s.Package}, {s.License}" +
                              (s.Missing + s.Failed.Count > 0 ? $"; left out: {s.Missing} without an image, {s.Failed.Count} failed" : "") +
                              (s.Unmatched is { } u ? $"; {u} code point sequences not among the data set's emoji" : ""));
            foreach (string f in s.Failed.Take(5)) Console.WriteLine($"  failed: {f}");
        }
        foreach (var w in EmojiDatasetBuilder.WordSources) Console.WriteLine($"captions: {w.Package}, {w.License}");
        Console.WriteLine($"wrote {report.OutDir} ({Mib(report.DatasetBytes)}; tarball cache {Mib(report.CacheBytes)}" +
                          (report.Downloaded.Count > 0 ? $", downloaded {string.Join(", ", report.Downloaded)})" : ", all cached)"));
    }

    static int RunCheck(ParseResult parsed)
    {
        var options = new ImageFolderOptions
        {
            Split = parsed.GetValue(Split),
            OnBadRecord = parsed.GetValue(DataOptions.SkipBad) ? BadRecordPolicy.Skip : BadRecordPolicy.Fail,
        };
        var dataset = ImageFolderDataset.Read(parsed.GetValue(Folder)!, options);
        var splits = dataset.Records.GroupBy(r => r.Split).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} {g.Count()}");
        Console.WriteLine($"{dataset.Folder}: {dataset.Count} images, {dataset.Records.Sum(r => r.Captions.Count)} captions " +
                          $"({string.Join(", ", splits)}), {dataset.Skipped.Count} bad lines skipped");
        DataOptions.ListSkipped(dataset);
        return 0;
    }

    /// <summary>The message for an <c>--extra-sets</c> value that names an unknown or unusable set; null when all are known.</summary>
    static string? Refusal(string? value)
    {
        try
        {
            IconifyEmojiSet.Parse(value);
            return null;
        }
        catch (ArgumentException e) { return e.Message; }
    }

    static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
}
