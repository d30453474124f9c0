using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.Imaging;

namespace Latent.Vae.Training;

/// <summary>
/// The run's <c>log.jsonl</c>: one JSON object per line, <c>{"step": 25, "loss": ..., "rec": ...}</c> for averaged
/// training losses and <c>{"step": 500, "val_psnr": ..., "val_ssim": ...}</c> for validations, plus the charts drawn
/// from it (<c>loss.png</c>, <c>psnr.png</c>).
/// </summary>
public sealed class VaeTrainingLog
{
    /// <summary>The log's file name in the run folder.</summary>
    public const string FileName = "log.jsonl";

    /// <summary>Opens (without creating) the log of the run folder <paramref name="outDir"/>.</summary>
    public VaeTrainingLog(string outDir)
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

    /// <summary>The entries, in order (none when the file does not exist; an unreadable last line, cut by a kill, is skipped).</summary>
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

    /// <summary>Drops the entries after <paramref name="step"/>: a resumed run re-logs the steps the killed run did after its last checkpoint.</summary>
    public void TruncateAfter(long step)
    {
        if (!File.Exists(Path)) return;
        var kept = Read().Where(e => StepOf(e) <= step).Select(e => e.ToJsonString() + "\n");
        Latent.Core.IO.AtomicFile.WriteAllText(Path, string.Concat(kept));
    }

    /// <summary>Draws <c>loss.png</c> (reconstruction loss, log scale) and <c>psnr.png</c> (validation PSNR) next to the log, when it has the data.</summary>
    public void SaveCharts()
    {
        var entries = Read();
        string dir = System.IO.Path.GetDirectoryName(Path)!;
        var rec = Series(entries, "rec");
        if (rec.Steps.Count > 1 && rec.Values.All(v => v > 0))
            LineChart.Save(System.IO.Path.Combine(dir, "loss.png"), [rec with { Name = "reconstruction" }],
                new LineChartOptions("VAE training loss", YLabel: "per-pixel loss", YScale: YScale.Log10));
        var psnr = Series(entries, "val_psnr");
        if (psnr.Steps.Count > 1)
            LineChart.Save(System.IO.Path.Combine(dir, "psnr.png"), [psnr with { Name = "validation PSNR (EMA)" }],
                new LineChartOptions("VAE validation PSNR", YLabel: "dB"));
    }

    static ChartSeries Series(List<JsonObject> entries, string key)
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
        return new ChartSeries(key, steps, values);
    }

    static long StepOf(JsonObject e) =>
        e["step"] is JsonValue v && v.TryGetValue(out long step) ? step : long.MaxValue;

    /// <summary>A number rounded for the log (6 significant digits; NaN and infinities as null, which JSON lacks).</summary>
    public static JsonNode? Number(double value) =>
        double.IsFinite(value) ? JsonValue.Create(double.Parse(value.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)) : null;
}
