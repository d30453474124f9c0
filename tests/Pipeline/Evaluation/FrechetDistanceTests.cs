using Latent.Core.Engine;
using Latent.Pipeline.Evaluation;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Evaluation;

public class FrechetDistanceTests
{
    static Tensor Rows(double[,] values) => tensor(values);

    [Fact]
    public void SameSet_IsZero()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var a = randn(200, 8);
        Assert.Equal(0.0, FrechetDistance.Compute(a, a), 6);
    }

    [Fact]
    public void DiagonalGaussians_MatchTheClosedForm()
    {
        // a: mean 0, sample covariance diag(2/3, 2/3); b = 2a + (3, 0): mean (3, 0), covariance diag(8/3, 8/3).
        // d² = |μa − μb|² + Σ_i (√σa_i − √σb_i)² = 9 + 2 · (√(2/3) − √(8/3))² = 9 + 4/3.
        using var scope = NewDisposeScope();
        var a = Rows(new double[,] { { 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 } });
        var b = (a * Scalars.Of(2)).add(tensor(new double[] { 3, 0 }), Scalars.One);
        Assert.Equal(9 + 4.0 / 3, FrechetDistance.Compute(a, b), 9);
    }

    [Fact]
    public void CorrelatedSets_AreSymmetric_AndMatchTheOneDimensionalForm()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var a = randn(300, 6, dtype: ScalarType.Float64);
        var mix = randn(6, 6, dtype: ScalarType.Float64);
        var b = a.matmul(mix).add(Scalars.Of(0.5), Scalars.One);      // covariances that do not commute with a's
        double ab = FrechetDistance.Compute(a, b), ba = FrechetDistance.Compute(b, a);
        Assert.True(ab > 0.1, $"expected a clearly positive distance; got {ab}");
        Assert.Equal(ab, ba, 6);

        // In one dimension d² = (μa − μb)² + (σa − σb)² with the N − 1 standard deviations.
        var x = a.narrow(1, 0, 1);
        var y = b.narrow(1, 0, 1);
        double expected = Math.Pow(x.mean().item<double>() - y.mean().item<double>(), 2)
                          + Math.Pow(x.std().item<double>() - y.std().item<double>(), 2);
        Assert.Equal(expected, FrechetDistance.Compute(x, y), 9);
    }

    [Fact]
    public void BadShapes_NameTheProblem()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(zeros(4, 3), zeros(4, 2)));
        Assert.Contains("widths differ", e.Message);
        e = Assert.Throws<ArgumentException>(() => FrechetDistance.Compute(zeros(1, 3), zeros(4, 3)));
        Assert.Contains("N ≥ 2", e.Message);
    }
}
