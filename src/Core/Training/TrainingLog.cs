using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.IO;

namespace Latent.Core.Training;

/// <summary>
/// A run's <c>log.jsonl</c>: one JSON object per line with a <c>step</c> and numbers (<c>{"step": 25, "loss": ...,
/// "skipped": 0}</c> for averaged training numbers and the count of skipped updates, <c>{"step": 500, "val_...": ...}</c>
/// for validations, <c>{"step": 7, "skipped_step": ...}</c> for each update that <see cref="NonFiniteGradientGuard"/>
/// skipped). The log keeps the numbers only: a trainer whose run folder shows charts derives its log and draws them in
/// <see cref="SaveCharts"/> (the trainers of <c>Latent.Training</c> do, with ScottPlot, which Core does not carry).
/// </summary>
public class TrainingLog
{
    /// <summary>The log's file name in the run folder.</summary>
    public const string FileName = "log.jsonl";

    /// <summary>Opens (without creating) the log of the run folder <paramref name="outDir"/>.</summary>
    public TrainingLog(string outDir)
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

    /// <summary>The hook where a derived log draws its charts next to the log, for the data it has (called at the end of
    /// a completed run, on rank 0); this log draws none.</summary>
    public virtual void SaveCharts() { }

    /// <summary>A number rounded for the log (6 significant digits; NaN and infinities as null, which JSON lacks).</summary>
    public static JsonNode? Number(double value) =>
        double.IsFinite(value) ? JsonValue.Create(double.Parse(value.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)) : null;

    /// <summary>The finite values logged under <paramref name="key"/> in <paramref name="entries"/>, with their steps, in order.</summary>
    public static (IReadOnlyList<double> Steps, IReadOnlyList<double> Values) Series(IEnumerable<JsonObject> entries, string key)
    {
        ArgumentNullException.ThrowIfNull(entries);
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
        return (steps, values);
    }

    static long StepOf(JsonObject e) => e["step"] is JsonValue v && v.TryGetValue(out long step) ? step : long.MaxValue;
}
