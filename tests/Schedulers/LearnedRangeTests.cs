using Latent.Core.Engine;
using Latent.Schedulers;
using TorchSharp;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class LearnedRangeTests
{
    [Fact]
    public void LogVariance_StaysWithinPosteriorVarianceAndBeta_WithTheEndsExact()
    {
        using var scope = NewDisposeScope();
        // every training timestep t > 0 of SD's schedule, v from -1 to 1: beta~_t <= Sigma <= beta_t, Sigma(-1) = beta~_t, Sigma(1) = beta_t
        var ddpm = new DdpmScheduler(Sd(SchedulerConfig.DdpmClassName));
        using var v = linspace(-1, 1, 21, dtype: ScalarType.Float64);
        for (long t = 1; t < 1000; t += 37)
        {
            var (_, _, posterior, beta) = ddpm.Posterior(t);
            using var minLog = tensor(Math.Log(posterior), dtype: ScalarType.Float64);
            using var maxLog = tensor(Math.Log(beta), dtype: ScalarType.Float64);
            using var variance = LearnedRange.LogVariance(v, minLog, maxLog).exp();
            double[] s = variance.data<double>().ToArray();
            Assert.Equal(posterior, s[0], posterior * 1e-9);
            Assert.Equal(beta, s[^1], beta * 1e-9);
            Assert.All(s, x => Assert.InRange(x, posterior * (1 - 1e-9), beta * (1 + 1e-9)));
            Assert.True(s.Zip(s.Skip(1)).All(p => p.Second >= p.First), $"not increasing in v at t = {t}");
        }
    }

    [Fact]
    public void Std_AtVZero_IsTheGeometricMean()
    {
        using var v = zeros(3);
        using var s = LearnedRange.Std(v, 0.01, 0.04);
        Assert.All(s.data<float>().ToArray(), x => Assert.Equal(Math.Sqrt(Math.Sqrt(0.01 * 0.04)), x, 6));
    }

    [Fact]
    public void Split_ThrowsForAnOddChannelCount()
    {
        using var x = zeros(1, 3, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => LearnedRange.Split(x));
        Assert.Contains("3 channels", e.Message);
    }

    static DdimScheduler Ddim(double eta)
    {
        var s = new DdimScheduler(Sd(SchedulerConfig.DdimClassName) with { StepsOffset = 1 }, eta);
        s.SetTimesteps(50);
        return s;
    }

    static Tensor WithVariance(Tensor eps, double v)   // [B, C] -> [B, 2C]
    {
        using var scope = NewDisposeScope();
        using var s = v.ToScalar();
        return cat([eps, full_like(eps, s)], 1).MoveToOuterDisposeScope();
    }

    [Fact]
    public void Ddim_Eta0_IgnoresTheLearnedVariance()
    {
        using var scope = NewDisposeScope();
        using var x = Sample();
        using var m = ModelOutput();
        using var plain = Ddim(0).Step(m, 981, x);
        using var both = WithVariance(m, 0.7);
        using var learned = Ddim(0).Step(both, 981, x);
        Assert.True(plain.equal(learned).all().item<bool>());
    }

    [Fact]
    public void Ddim_Eta1_WithVMinusOne_EqualsDdimsOwnNoise()
    {
        using var scope = NewDisposeScope();
        // v = -1 gives Sigma = beta~ of the jump, which is DDIM's eta = 1 variance: the same step, to float32 rounding.
        using var x = Sample();
        using var m = ModelOutput();
        using var g1 = new Generator(5);
        using var g2 = new Generator(5);
        using var plain = Ddim(1).Step(m, 981, x, g1);
        using var both = WithVariance(m, -1);
        using var learned = Ddim(1).Step(both, 981, x, g2);
        AssertClose(Values(plain), learned, 1e-5);
        using var g3 = new Generator(5);
        using var larger = Ddim(1).Step(WithVariance(m, 1), 981, x, g3);
        Assert.False(larger.allclose(plain, rtol: 0, atol: 1e-4));
    }

    [Fact]
    public void Ddpm_LearnedRange_WithVMinusOne_EqualsFixedSmall()
    {
        var fixedSmall = new DdpmScheduler(Sd(SchedulerConfig.DdpmClassName) with { VarianceType = VarianceType.FixedSmall, StepsOffset = 1 });
        var learned = new DdpmScheduler(Sd(SchedulerConfig.DdpmClassName) with { VarianceType = VarianceType.LearnedRange, StepsOffset = 1 });
        fixedSmall.SetTimesteps(25);
        learned.SetTimesteps(25);
        using var x = Sample();
        using var m = ModelOutput();
        using var g1 = new Generator(9);
        using var g2 = new Generator(9);
        using var a = fixedSmall.Step(m, 961, x, g1);
        using var both = WithVariance(m, -1);
        using var b = learned.Step(both, 961, x, g2);
        AssertClose(Values(a), b, 1e-5);
    }
}
