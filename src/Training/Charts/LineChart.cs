using Latent.Core.IO;
using ScottPlot;

namespace Latent.Training.Charts;

/// <summary>How the y axis maps values.</summary>
public enum YScale
{
    /// <summary>Evenly spaced values.</summary>
    Linear,
    /// <summary>Evenly spaced decades; every value must be positive. Use it for losses. The labels are powers of ten
    /// over a wide span and rounder values over a narrow one (0.025, 0.03, ... for a loss within one decade).</summary>
    Log10,
}

/// <summary>One named line: y = <see cref="Values"/> at x = <see cref="Steps"/>.</summary>
/// <param name="Name">The legend entry.</param>
/// <param name="Steps">x values (usually training steps), as many as <paramref name="Values"/>.</param>
/// <param name="Values">y values; all finite.</param>
public sealed record ChartSeries(string Name, IReadOnlyList<double> Steps, IReadOnlyList<double> Values);

/// <summary>The look of a <see cref="LineChart"/>.</summary>
/// <param name="Title">Text above the plot.</param>
/// <param name="XLabel">Label of the x axis.</param>
/// <param name="YLabel">Label of the y axis.</param>
/// <param name="YScale">Linear or log10 y axis.</param>
/// <param name="Width">Image width in pixels; 800 fits a laptop screen and a report page.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Markers">Marks each point: for a few measurements (judge points) rather than a dense log.</param>
/// <param name="LegendOutside">The legend right of the plot instead of over it, for many series.</param>
public sealed record LineChartOptions(
    string Title,
    string XLabel = "step",
    string YLabel = "value",
    YScale YScale = YScale.Linear,
    int Width = 800,
    int Height = 500,
    bool Markers = false,
    bool LegendOutside = false);

/// <summary>Draws named series as a PNG line chart with ScottPlot 5 (headless, through Skia).</summary>
public static class LineChart
{
    /// <summary>Renders the chart as PNG bytes of exactly <see cref="LineChartOptions.Width"/> x <see cref="LineChartOptions.Height"/>.</summary>
    /// <param name="series">One or more series.</param>
    /// <param name="options">Title, labels, scale and size.</param>
    /// <exception cref="ArgumentException">No series, a series with mismatched or empty lengths, a non-finite value, a non-positive value on a log axis, or a size below 50 pixels.</exception>
    /// <exception cref="InvalidOperationException">The machine has no font, so the chart's text could not be drawn (install fonts-dejavu-core).</exception>
    public static byte[] RenderPng(IReadOnlyList<ChartSeries> series, LineChartOptions options)
    {
        Validate(series, options);
        string font = ChartFonts.Get();
        var plot = new Plot();
        try
        {
            plot.Font.Set(font);
            bool log = options.YScale == YScale.Log10;
            foreach (ChartSeries s in series)
            {
                double[] ys = log ? s.Values.Select(Math.Log10).ToArray() : s.Values.ToArray();
                var line = plot.Add.Scatter(s.Steps.ToArray(), ys);
                line.LegendText = s.Name;
                line.MarkerSize = options.Markers ? 7 : 0;
                line.LineWidth = 2;
            }
            if (log)
            {
                // ScottPlot has no log axis: log10(y) is plotted, and the ticks are placed and labelled here.
                double lo = series.Min(s => s.Values.Min()), hi = series.Max(s => s.Values.Max());
                var ticks = new ScottPlot.TickGenerators.NumericManual();
                foreach (double v in LogTicks.Major(lo, hi))
                    ticks.AddMajor(Math.Log10(v), LogTicks.Label(v));
                foreach (double v in LogTicks.Minor(lo, hi))
                    ticks.AddMinor(Math.Log10(v));
                plot.Axes.Left.TickGenerator = ticks;
            }
            plot.Title(options.Title);
            plot.XLabel(options.XLabel);
            plot.YLabel(options.YLabel);
            if (options.LegendOutside)
                plot.ShowLegend(Edge.Right);
            else if (series.Count > 1 || series[0].Name.Length > 0)
                plot.ShowLegend();
            return plot.GetImageBytes(options.Width, options.Height, ImageFormat.Png);
        }
        finally
        {
            plot.Dispose();
        }
    }

    /// <summary>Renders the chart and writes it to <paramref name="path"/> atomically.</summary>
    /// <exception cref="ArgumentException">As for <see cref="RenderPng"/>.</exception>
    public static void Save(string path, IReadOnlyList<ChartSeries> series, LineChartOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllBytes(path, RenderPng(series, options));
    }

    static void Validate(IReadOnlyList<ChartSeries> series, LineChartOptions options)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Width < 50 || options.Height < 50)
            throw new ArgumentException($"chart size must be at least 50x50 pixels; got {options.Width}x{options.Height}", nameof(options));
        if (series.Count == 0)
            throw new ArgumentException("expected at least one series; got none", nameof(series));
        foreach (ChartSeries s in series)
        {
            if (s.Steps.Count != s.Values.Count || s.Steps.Count == 0)
                throw new ArgumentException(
                    $"series '{s.Name}' needs as many steps as values, at least one; got {s.Steps.Count} steps and {s.Values.Count} values", nameof(series));
            int bad = IndexOf(s.Steps, v => !double.IsFinite(v));
            if (bad >= 0)
                throw new ArgumentException($"series '{s.Name}' has step {s.Steps[bad]} at index {bad}; steps must be finite", nameof(series));
            bad = IndexOf(s.Values, v => !double.IsFinite(v));
            if (bad >= 0)
                throw new ArgumentException($"series '{s.Name}' has value {s.Values[bad]} at index {bad}; values must be finite", nameof(series));
            bad = options.YScale == YScale.Log10 ? IndexOf(s.Values, v => v <= 0) : -1;
            if (bad >= 0)
                throw new ArgumentException(
                    $"series '{s.Name}' has value {s.Values[bad]} at index {bad}; a log10 y axis needs positive values", nameof(series));
        }
    }

    static int IndexOf(IReadOnlyList<double> values, Func<double, bool> predicate)
    {
        for (int i = 0; i < values.Count; i++)
        {
            if (predicate(values[i]))
                return i;
        }
        return -1;
    }
}
