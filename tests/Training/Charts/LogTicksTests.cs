using Latent.Training.Charts;
using Xunit;

namespace Latent.Training.Tests.Charts;

public class LogTicksTests
{
    [Fact]
    public void Major_OverThreeDecadesOrMore_IsThePowersOfTen() =>
        Assert.Equal([1e-4, 1e-3, 1e-2, 1e-1, 1], LogTicks.Major(5e-5, 3));

    [Fact]
    public void Major_OverOneToThreeDecades_IsOneTwoFiveTimesPowersOfTen() =>
        Assert.Equal([0.01, 0.02, 0.05, 0.1, 0.2, 0.5], LogTicks.Major(0.009, 0.6));

    [Fact]
    public void Major_WithinADecade_IsRoundLinearStepsInsideTheSpan()
    {
        // A U-Net loss curve late in training: no power of ten (nor 2 or 5 times one) lies inside.
        Assert.Equal([0.024, 0.026, 0.028, 0.03, 0.032], LogTicks.Major(0.0232, 0.0321));
        Assert.Equal([0.03, 0.035, 0.04, 0.045], LogTicks.Major(0.0285, 0.045));
        Assert.Equal([0.022, 0.024, 0.026, 0.028, 0.03, 0.032, 0.034], LogTicks.Major(0.0204, 0.0341));
    }

    [Theory]
    [InlineData(0.0232, 0.0321)]
    [InlineData(0.1, 0.9)]
    [InlineData(1.5, 1.51)]
    [InlineData(7, 70)]
    [InlineData(123, 4567)]
    public void Major_AlwaysLabelsAtLeastThreeValuesInsideTheSpan(double lo, double hi)
    {
        IReadOnlyList<double> ticks = LogTicks.Major(lo, hi);
        Assert.True(ticks.Count >= 3, $"[{lo}, {hi}] got {ticks.Count} labelled ticks");
        Assert.All(ticks, v => Assert.InRange(v, lo, hi));
        Assert.Equal(ticks.Order(), ticks);
    }

    [Theory]
    [InlineData(1.5, 1.51)]
    [InlineData(0.1012, 0.1049)]
    [InlineData(1e-14, 5e-14)]
    [InlineData(0.0232, 0.0321)]
    public void Label_IsDistinctPerTick_AndReadsBackAsTheValue(double lo, double hi)
    {
        IReadOnlyList<double> ticks = LogTicks.Major(lo, hi);
        string[] labels = ticks.Select(LogTicks.Label).ToArray();
        Assert.Equal(labels.Length, labels.Distinct().Count());
        for (int i = 0; i < ticks.Count; i++)
            Assert.Equal(ticks[i], double.Parse(labels[i], System.Globalization.CultureInfo.InvariantCulture), 1e-9 * ticks[i]);
    }

    [Fact]
    public void Label_IsTheShortestText() =>
        Assert.Equal(["0.024", "1.502", "1E-05", "200"], new[] { 0.024, 1.502, 1e-5, 200 }.Select(LogTicks.Label));

    [Fact]
    public void Major_OfOneValue_IsThatValue() => Assert.Equal([0.5], LogTicks.Major(0.5, 0.5));

    [Fact]
    public void Minor_FillsTheOtherMultiplesOverADecadeOrMore_AndNothingWithin()
    {
        Assert.Equal([0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 3, 4], LogTicks.Minor(0.25, 4.5));
        Assert.Empty(LogTicks.Minor(0.0232, 0.0321));
    }

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(-1.0, 1.0)]
    [InlineData(double.NaN, 1.0)]
    [InlineData(1.0, 0.5)]
    [InlineData(1.0, double.PositiveInfinity)]
    public void Major_ThrowsForABadRange(double lo, double hi) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => LogTicks.Major(lo, hi));
}
