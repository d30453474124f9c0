using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.Imaging;
using Latent.Core.IO;

namespace Latent.TextEncoder.Training;

/// <summary>
/// The run's <c>log.jsonl</c>: one JSON object per line, <c>{"step": 25, "loss": ..., "logit_scale": ..., "batch_acc": ...}</c>
/// for averaged training numbers and <c>{"step": 500, "val_t2i_r1": ..., "val_t2i_r5": ..., ...}</c> for validations, plus
/// the charts drawn from it (<c>loss.png</c>, <c>recall.png</c>).
/// </summary>
public sealed class ClipTrainingLog
{
    /// <summary>The log's file name in the run folder.</summary>
    public const string FileName = "log.jsonl";

    /// <summary>Opens (without creating) the log of the run folder <paramref name="outDir"/>.</summary>
    public ClipTrainingLog(string outDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        Path = System.IO.Path.Combine(outDir, FileName);
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Appends one entry (a line) and flushes it, so a killed run keeps everything logged before.</summary>
    public void Append(JsonObject entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        File.AppendAllText(Path, entry.ToJsonString() + "\n");
    }

    /// <summary>The entries in order (none when the file does not exist; a line cut by a kill is skipped).</summary>
    public List<JsonObject> Read()
    {
        var entries = new List<JsonObject>();
        if (!File.Exists(Path)) return entries;
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
        if (!File.Exists(Path)) return;
        AtomicFile.WriteAllText(Path, string.Concat(Read().Where(e => StepOf(e) <= step).Select(e => e.ToJsonString() + "\n")));
    }

    /// <summary>Draws <c>loss.png</c> (training loss) and <c>recall.png</c> (validation recall) next to the log, when it has the data.</summary>
    public void SaveCharts()
    {
        var entries = Read();
        string dir = System.IO.Path.GetDirectoryName(Path)!;
        var loss = Series(entries, "loss", "InfoNCE loss");
        if (loss.Steps.Count > 1)
            LineChart.Save(System.IO.Path.Combine(dir, "loss.png"), [loss], new LineChartOptions("Text-encoder training loss", YLabel: "loss"));
        var recall = new[] { ("val_t2i_r1", "text->image R@1"), ("val_t2i_r5", "text->image R@5"), ("val_i2t_r1", "image->text R@1"), ("val_i2t_r5", "image->text R@5") }
            .Select(k => Series(entries, k.Item1, k.Item2)).Where(s => s.Steps.Count > 1).ToList();
        if (recall.Count > 0)
            LineChart.Save(System.IO.Path.Combine(dir, "recall.png"), recall, new LineChartOptions("Validation recall (EMA)", YLabel: "recall"));
    }

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

    /// <summary>A number rounded for the log (6 significant digits; NaN and infinities as null).</summary>
    public static JsonNode? Number(double value) =>
        double.IsFinite(value) ? JsonValue.Create(double.Parse(value.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)) : null;
}
