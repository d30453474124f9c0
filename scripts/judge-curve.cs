#:project ../src/Training/Latent.Training.csproj
// Judge accuracy against training hours (issue 19): reads judge points of U-Net runs, writes their numbers as a TSV and
// draws them with the project's chart code (ScottPlot).
//
//   dotnet run scripts/judge-curve.cs -- POINTS.tsv OUT.tsv OUT.png
//
// POINTS.tsv, one judge point a line (# starts a comment; paths relative to the current folder):
//   series  step  judge_json  log_jsonl  hours_before
// judge_json is what `latent eval txt2img --json` wrote for the point (cfg 7.5 is read), or several such files of the
// same model at other --seed values, comma-separated, whose scores are averaged (less noise); log_jsonl is the run's
// log.jsonl, whose "sec_per_step" entries are summed up to the step (each entry covers the steps since the one
// before); hours_before is what the run started from (0, or the hours of the run it was initialised from). The hours
// are wall time of the run's own process: on a shared machine they overstate what the steps cost on a quiet one.
// A hand-written script rather than a CLI command: it charts our own runs for the docs, not a user's.
using System.Globalization;
using System.Text.Json;
using Latent.Training.Charts;

var c = CultureInfo.InvariantCulture;
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: dotnet run scripts/judge-curve.cs -- POINTS.tsv OUT.tsv OUT.png");
    return 2;
}

var rows = new List<(string Series, long Step, double Hours, double All, double Tune, double Held, double Top5, int Runs)>();
foreach (string line in File.ReadLines(args[0]).Where(l => l.Trim().Length > 0 && !l.StartsWith('#')))
{
    string[] f = line.Split('\t');
    if (f.Length != 5)
        throw new FormatException($"expected 5 tab-separated fields (series, step, judge_json, log_jsonl, hours_before); got {f.Length} in '{line}'");
    long step = long.Parse(f[1], c);
    double hours = double.Parse(f[4], c) + TrainingSeconds(f[3], step) / 3600;
    var files = f[2].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
    var parts = files.Select(Cfg75Parts).ToList();
    double Mean(string part, Func<(double Top1, double Top5), double> pick) => parts.Average(p => pick(p[part]));
    rows.Add((f[0], step, hours, Mean("all", p => p.Top1), Mean("tune", p => p.Top1), Mean("heldout", p => p.Top1), Mean("all", p => p.Top5), files.Length));
}

var tsv = new List<string> { "series\tstep\thours\ttop1_all\ttop1_tune\ttop1_heldout\ttop5_all\tseed_pairs" };
tsv.AddRange(rows.Select(r => string.Join('\t', r.Series, r.Step.ToString(c), r.Hours.ToString("F2", c),
    r.All.ToString("F3", c), r.Tune.ToString("F3", c), r.Held.ToString("F3", c), r.Top5.ToString("F3", c), r.Runs.ToString(c))));
File.WriteAllLines(args[1], tsv);

var series = rows.GroupBy(r => r.Series).SelectMany(g => new[]
{
    new ChartSeries($"{g.Key}: top-1 all", g.Select(r => r.Hours).ToList(), g.Select(r => r.All).ToList()),
    new ChartSeries($"{g.Key}: top-1 held out", g.Select(r => r.Hours).ToList(), g.Select(r => r.Held).ToList()),
}).ToList();
LineChart.Save(args[2], series, new LineChartOptions(
    "Judge top-1 at cfg 7.5 (135 prompts x 2-6 seeds) against training hours", "training hours (wall, one thread)", "judge top-1",
    Width: 1000, Markers: true, LegendOutside: true));
Console.WriteLine($"{rows.Count} points: wrote {args[1]} and {args[2]}");
return 0;

// Seconds the run spent up to `step`: each log entry's sec_per_step times the steps since the entry before it.
static double TrainingSeconds(string logPath, long step)
{
    double seconds = 0;
    long previous = 0;
    foreach (string line in File.ReadLines(logPath))
    {
        using var entry = JsonDocument.Parse(line);
        if (!entry.RootElement.TryGetProperty("sec_per_step", out var sec) || !entry.RootElement.TryGetProperty("step", out var s))
            continue;
        long at = s.GetInt64();
        if (at > step)
            break;
        if (at > previous)
            seconds += sec.GetDouble() * (at - previous);
        previous = Math.Max(previous, at);
    }
    return seconds;
}

// The judge's top-1/top-5 per prompt part ("all", "tune", "heldout") at guidance scale 7.5.
static Dictionary<string, (double Top1, double Top5)> Cfg75Parts(string judgeJson)
{
    using var doc = JsonDocument.Parse(File.ReadAllText(judgeJson));
    var scale = doc.RootElement.GetProperty("judge").GetProperty("scales").EnumerateArray()
        .FirstOrDefault(s => s.GetProperty("guidance_scale").GetDouble() == 7.5);
    if (scale.ValueKind == JsonValueKind.Undefined)
        throw new InvalidDataException($"'{judgeJson}' has no judge scores at cfg 7.5");
    return scale.GetProperty("parts").EnumerateArray().ToDictionary(
        p => p.GetProperty("part").GetString()!, p => (p.GetProperty("top1").GetDouble(), p.GetProperty("top5").GetDouble()));
}
