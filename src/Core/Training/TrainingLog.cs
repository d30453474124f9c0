using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.Imaging;
using Latent.Core.IO;

namespace Latent.Core.Training;

/// <summary>
/// A run's <c>log.jsonl</c>: one JSON object per line with a <c>step</c> and numbers (<c>{"step": 25, "loss": ...,
/// "skipped": 0}</c> for averaged training numbers and the count of skipped updates, <c>{"step": 500, "val_...": ...}</c>
/// for validations, <c>{"step": 7, "skipped_step": ...}</c> for each update that <see cref="NonFiniteGradientGuard"/>
/// skipped), and PNG charts drawn from it.
/// Each trainer derives its own log to say which charts it draws.
/// </summary>
public abstract class TrainingLog
{
    /// <summary>The log's file name in the run folder.</summary>
    public const string FileName = "log.jsonl";

    /// <summary>Opens (without creating) the log of the run folder <paramref name="outDir"/>.</summary>
    protected TrainingLog(string outDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        Path = System.IO.Path.Combine(outDir, FileName);
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>When true, <see cref="Append"/> and <see cref="TruncateAfter"/> write nothing: the log of a rank other than
    /// 0 in data-parallel training, where rank 0 alone writes the run folder.</summary>
    public bool Muted { get; set; }

    /// <summary>Appends one entry (a line) and flushes it, so a killed run keeps everything logged before.</summary>
    public void Append(JsonObject entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (Muted) return;
        File.AppendAllText(Path, entry.ToJsonString() + "\n");
    }

    /// <summary>The entries in order (none when the file does not exist; a line cut by a kill mid-write is skipped).</summary>
    public List<JsonObject> Read()
    {
        var entries = new List<JsonObject>();
        if (!File.Exists(Path)) return entries;
        Latent.Core.IO.FileKind.RequireRegularForRead(Path, "training log");
        foreach (string line in File.ReadLines(Path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                if (JsonNode.Parse(line) is JsonObject o) entries.Add(o);
            }
            catch (JsonException)
            {
                // a line cut by a kill mid-write
            }
        }
        return entries;
    }

    /// <summary>Drops the entries after <paramref name="step"/>: a resumed run re-logs the steps done after its last checkpoint.</summary>
    public void TruncateAfter(long step)
    {
        if (Muted || !File.Exists(Path)) return;
        AtomicFile.WriteAllText(Path, string.Concat(Read().Where(e => StepOf(e) <= step).Select(e => e.ToJsonString() + "\n")));
    }

    /// <summary>Draws the trainer's charts next to the log, for the data it has.</summary>
    public abstract void SaveCharts();

    /// <summary>
    /// Draws <paramref name="fileName"/> in the run folder from the logged <paramref name="series"/> (key, legend name),
    /// leaving out series with fewer than two points (and non-positive values on a log scale); draws nothing if none is left.
    /// </summary>
    protected void SaveChart(string fileName, LineChartOptions options, params (string Key, string Name)[] series)
    {
        var entries = Read();
        var drawn = series.Select(s => Series(entries, s.Key, s.Name))
            .Where(s => s.Steps.Count > 1 && (options.YScale != YScale.Log10 || s.Values.All(v => v > 0)))
            .ToList();
        if (drawn.Count > 0)
            LineChart.Save(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, fileName), drawn, options);
    }

    /// <summary>A number rounded for the log (6 significant digits; NaN and infinities as null, which JSON lacks).</summary>
    public static JsonNode? Number(double value) =>
        double.IsFinite(value) ? JsonValue.Create(double.Parse(value.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)) : null;

    static ChartSeries Series(List<JsonObject> entries, string key, string name)
    {
        var steps = new List<double>();
        var values = new List<double>();
        foreach (var e in entries)
        {
            if (e[key] is JsonValue v && v.TryGetValue(out double value) && double.IsFinite(value))
            {
                steps.Add(StepOf(e));
                values.Add(value);
            }
        }
        return new ChartSeries(name, steps, values);
    }

    static long StepOf(JsonObject e) => e["step"] is JsonValue v && v.TryGetValue(out long step) ? step : long.MaxValue;
}
