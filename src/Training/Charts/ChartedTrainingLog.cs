using Latent.Core.Training;

namespace Latent.Training.Charts;

/// <summary>
/// A run's <c>log.jsonl</c> (<see cref="TrainingLog"/>) that also draws PNG line charts of its numbers next to it, in the
/// run folder: each trainer's log derives from it and says which charts it draws in <see cref="TrainingLog.SaveCharts"/>.
/// </summary>
/// <param name="outDir">The run folder.</param>
public abstract class ChartedTrainingLog(string outDir) : TrainingLog(outDir)
{
    /// <summary>
    /// Draws <paramref name="fileName"/> in the run folder from the logged <paramref name="series"/> (key, legend name),
    /// leaving out series with fewer than two points (and non-positive values on a log scale); draws nothing if none is left.
    /// </summary>
    protected void SaveChart(string fileName, LineChartOptions options, params (string Key, string Name)[] series)
    {
        var entries = Read();
        var drawn = series.Select(s => (s.Name, Data: Series(entries, s.Key)))
            .Select(s => new ChartSeries(s.Name, s.Data.Steps, s.Data.Values))
            .Where(s => s.Steps.Count > 1 && (options.YScale != YScale.Log10 || s.Values.All(v => v > 0)))
            .ToList();
        if (drawn.Count > 0)
            LineChart.Save(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, fileName), drawn, options);
    }
}
