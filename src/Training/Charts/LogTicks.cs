using System.Globalization;

namespace Latent.Training.Charts;

/// <summary>Where a log10 axis puts its labelled ticks: round values that a reader can read a loss off.</summary>
/// <remarks>
/// ScottPlot 5 has no log axis; <see cref="LineChart"/> plots log10(y) and labels the ticks itself. Labelling only
/// the powers of ten (the cookbook's way) leaves a loss curve that stays within one decade, 0.023 to 0.045 say,
/// without a single label, so the tick values depend on the span: powers of ten over three decades or more; 1, 2
/// and 5 times a power of ten over one to three; round linear steps within one decade.
/// </remarks>
static class LogTicks
{
    /// <summary>The labelled tick values in [<paramref name="lo"/>, <paramref name="hi"/>], ascending.</summary>
    /// <param name="lo">Smallest value shown; positive and finite.</param>
    /// <param name="hi">Largest value shown; at least <paramref name="lo"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lo"/> is not positive and finite, or <paramref name="hi"/> is below it or not finite.</exception>
    public static IReadOnlyList<double> Major(double lo, double hi)
    {
        double decades = Decades(lo, hi);
        if (decades >= 3)
            return PowersOfTen(lo, hi, [1]);
        if (decades >= 1)
            return PowersOfTen(lo, hi, [1, 2, 5]);
        if (hi == lo)
            return [lo];
        // Within a decade: multiples of a 1-2-5 step of an eighth to a third of the span, so three to nine fall inside.
        double step = RoundStep((hi - lo) / 8);
        var ticks = new List<double>();
        for (double k = Math.Ceiling(lo / step); k * step <= hi * (1 + 1e-12); k++)
            ticks.Add(Decimal(k * step));
        return ticks;
    }

    /// <summary>The shortest text that reads back as <paramref name="value"/> (to 1e-9 relative), so that neighbouring
    /// ticks never share a label: "0.024", "1.502", "1E-05".</summary>
    /// <param name="value">A tick value.</param>
    public static string Label(double value)
    {
        // Plain decimals between 1e-4 and 1e6 ("200", not "2E+02"), the shortest exact exponent form elsewhere.
        double magnitude = Math.Abs(value);
        if (magnitude is >= 1e-4 and < 1e6 && Exact(value.ToString("0.##########", CultureInfo.InvariantCulture), value) is { } plain)
            return plain;
        for (int digits = 1; digits < 17; digits++)
        {
            if (Exact(value.ToString("G" + digits, CultureInfo.InvariantCulture), value) is { } text)
                return text;
        }
        return value.ToString("R", CultureInfo.InvariantCulture);

        static string? Exact(string text, double value) =>
            Math.Abs(double.Parse(text, CultureInfo.InvariantCulture) - value) <= 1e-9 * Math.Abs(value) ? text : null;
    }

    // k * step without the binary noise (3 * 0.01 = 0.030000000000000002): rounded to 15 significant digits.
    static double Decimal(double x) => double.Parse(x.ToString("G15", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>Unlabelled ticks between the labelled ones: the other whole multiples of each power of ten when the
    /// span is a decade or more, none within a decade (the labels are dense enough there).</summary>
    /// <exception cref="ArgumentOutOfRangeException">As for <see cref="Major"/>.</exception>
    public static IReadOnlyList<double> Minor(double lo, double hi)
    {
        if (Decades(lo, hi) < 1)
            return [];
        var major = new HashSet<double>(Major(lo, hi));
        return PowersOfTen(lo, hi, [1, 2, 3, 4, 5, 6, 7, 8, 9]).Where(v => !major.Contains(v)).ToArray();
    }

    static double Decades(double lo, double hi)
    {
        if (!(lo > 0) || !double.IsFinite(lo))
            throw new ArgumentOutOfRangeException(nameof(lo), lo, "a log axis needs a positive, finite lower end");
        if (!(hi >= lo) || !double.IsFinite(hi))
            throw new ArgumentOutOfRangeException(nameof(hi), hi, $"expected a finite upper end of at least {lo}");
        return Math.Log10(hi / lo);
    }

    // m * 10^k for every mantissa m and every decade k that meets [lo, hi], kept when inside it.
    static double[] PowersOfTen(double lo, double hi, int[] mantissas)
    {
        var ticks = new List<double>();
        for (int k = (int)Math.Floor(Math.Log10(lo)); k <= (int)Math.Ceiling(Math.Log10(hi)); k++)
        {
            foreach (int m in mantissas)
            {
                double v = double.Parse($"{m}e{k}", CultureInfo.InvariantCulture); // exact decimal, no 3 * 0.1 drift
                if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12))
                    ticks.Add(v);
            }
        }
        return ticks.ToArray();
    }

    // The smallest of 1, 2 or 5 times a power of ten that is at least x.
    static double RoundStep(double x)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(x)));
        double m = x / power;
        return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
    }
}
