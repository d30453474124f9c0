using Latent.Core.Engine;
using Latent.Schedulers;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class DdpmSchedulerTests
{
    static DdpmScheduler Linear(int n, VarianceType variance = VarianceType.FixedSmall, PredictionType prediction = PredictionType.Epsilon, bool clip = true)
    {
        var s = new DdpmScheduler(new SchedulerConfig { VarianceType = variance, PredictionType = prediction, ClipSample = clip });
        s.SetTimesteps(n);
        return s;
    }

    [Fact]
    public void Posterior_MatchesEquation7ByHand()
    {
        // n = T: t' = t - 1; mu~ = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x_0 + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t,
        // beta~ = (1 - ab_{t-1}) / (1 - ab_t) beta_t, with ab from the float32 table and the rest in double.
        // Tolerances: diffusers computes beta_t = 1 - alpha_bar_t / alpha_bar_{t'} in float32, which cancels: its error is
        // about one ulp of 1 (2^-23 allowing for the division), i.e. 5e-4 relative at t = 1, where beta_t = 1.2e-4.
        const double betaTol = 1.0 / (1 << 23);
        var s = Linear(1000);
        foreach (long t in new long[] { 1, 10, 500, 999 })
        {
            double ab = s.Schedule.AlphasCumprod[t], abPrev = s.Schedule.AlphasCumprod[t - 1];
            double alpha = ab / abPrev, beta = 1 - alpha;
            var (c0, ct, variance, betaT) = s.Posterior(t);
            Assert.Equal(beta, betaT, betaTol);
            Assert.Equal(Math.Sqrt(abPrev) * beta / (1 - ab), c0, Math.Sqrt(abPrev) * betaTol / (1 - ab) + 1e-6 * c0);
            Assert.Equal(Math.Sqrt(alpha) * (1 - abPrev) / (1 - ab), ct, 1e-6);
            Assert.Equal((1 - abPrev) / (1 - ab) * beta, variance, (1 - abPrev) / (1 - ab) * betaTol + 1e-6 * variance);
        }
    }

    [Fact]
    public void Posterior_AtFirstStep_UsesAlphaBarOne()
    {
        // t' < 0: alpha_bar_{t'} = 1, so mu~ = x_0 and beta~ = 0 (clamped to 1e-20).
        var (c0, ct, variance, beta) = Linear(1000).Posterior(0);
        Assert.Equal(1f, c0, 1e-6f);
        Assert.Equal(0f, ct);
        Assert.Equal(1e-20f, variance);
        Assert.Equal(1f - 0.9999f, beta);   // 1 - alpha_bar_0 in float32
    }

    [Fact]
    public void Step_FixedSmall_MatchesDiffusers()
    {
        var s = Linear(1000);
        var (c0, ct, variance, _) = s.Posterior(500);
        // beta_t = 1 - alpha_bar_t / alpha_bar_{t-1} cancels in float32: 1e-5 relative covers the reference's torch 1.13 tables.
        Assert.Equal(0.0030580368f, c0, 1e-5f * 0.0030580368f);
        Assert.Equal(0.9941044f, ct, 1e-6f);
        Assert.Equal(0.010051269f, variance, 1e-5f * 0.010051269f);
        using var gen = new Generator(0);
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 500, x, gen);
        AssertClose([-0.71441185f, -0.6509525f, -0.59259987f, -0.06980303f, 0.012475118f, 0.22951348f, 0.65869516f, 0.95080054f], prev);
    }

    [Fact]
    public void Step_FixedLarge_UsesBetaAsVariance()
    {
        var s = Linear(1000, VarianceType.FixedLarge);
        using var gen = new Generator(0);
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 500, x, gen);
        AssertClose([-0.7143456f, -0.65096515f, -0.59269357f, -0.06977859f, 0.012428485f, 0.22945336f, 0.6587125f, 0.95083654f], prev);
    }

    [Fact]
    public void Step_ByHand_IsPosteriorMeanPlusSigmaZ()
    {
        var s = Linear(1000);
        using var x = Sample();
        using var m = ModelOutput();
        using var gen = new Generator(7);
        using var prev = s.Step(m, 300, x, gen);
        using var z = randn([1, 2, 2, 2], generator: new Generator(7));
        float ab = s.Schedule.AlphasCumprod[300];
        var (c0, ct, variance, _) = s.Posterior(300);
        float[] xs = Values(x), ms = Values(m), zs = Values(z), ps = Values(prev);
        for (int i = 0; i < 8; i++)
        {
            double x0 = Math.Clamp((xs[i] - Math.Sqrt(1 - ab) * ms[i]) / Math.Sqrt(ab), -1, 1);   // eq. 15, then clip_sample
            Assert.Equal(c0 * x0 + ct * xs[i] + Math.Sqrt(variance) * zs[i], ps[i], 1e-5);
        }
    }

    [Fact]
    public void Step_AtTimestep0_AddsNoNoise()
    {
        var s = Linear(50);
        using var x = Sample();
        using var m = ModelOutput();
        using var a = s.Step(m, 0, x, new Generator(0));
        using var b = s.Step(m, 0, x, new Generator(1));
        AssertClose([-0.86504245f, -0.6187304f, -0.3724184f, -0.1261064f, 0.12020561f, 0.36651763f, 0.6128296f, 0.85914165f], a);
        AssertClose(Values(a), b, 0);
    }

    [Fact]
    public void Step_VPrediction_MatchesDiffusers()
    {
        var s = Linear(10, prediction: PredictionType.VPrediction, clip: false);
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 300, x, new Generator(0));
        AssertClose([0.4716745f, -0.36188725f, -1.2196989f, 0.12801906f, -0.6191458f, -0.72888184f, 0.16879773f, 0.41553587f], prev);
    }

    [Fact]
    public void Step_LearnedRange_SplitsTheChannels()
    {
        using var scope = NewDisposeScope();
        // predicted v = -1 gives log sigma^2 = log beta~ (eq. 15 of improved DDPM): the same draw as fixed_small.
        var learned = Linear(1000, VarianceType.LearnedRange);
        var small = Linear(1000);
        using var x = Sample();
        using var m = ModelOutput();
        using var m2 = cat([m, full(1, 2, 2, 2, Scalars.Of(-1.0))], 1);
        using var a = learned.Step(m2, 500, x, new Generator(3));
        using var b = small.Step(m, 500, x, new Generator(3));
        AssertClose(Values(b), a, 1e-5);
    }

    [Fact]
    public void Step_IsReproducibleWithTheSameSeed()
    {
        var s = Linear(1000);
        using var x = Sample();
        using var m = ModelOutput();
        using var a = s.Step(m, 700, x, new Generator(42));
        using var b = s.Step(m, 700, x, new Generator(42));
        AssertClose(Values(a), b, 0);
    }

    [Fact]
    public void Step_ThrowsForShapeMismatch()
    {
        var s = Linear(1000);
        using var x = zeros(1, 2, 2, 2);
        using var m = zeros(1, 3, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => s.Step(m, 500, x));
        Assert.Contains("[1, 3, 2, 2]", e.Message);
    }

    [Fact]
    public void Step_ThrowsForFractionalTimestep()
    {
        var s = Linear(1000);
        using var x = zeros(1, 2, 2, 2);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.Step(x, 10.5, x));
        Assert.Contains("10.5", e.Message);
    }

    [Fact]
    public void Step_Learned_ThrowsWithoutVarianceChannels()
    {
        var s = Linear(1000, VarianceType.Learned);
        using var x = zeros(1, 2, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => s.Step(x, 500, x));
        Assert.Contains("2 x 2", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForFixedLargeLog()
    {
        var e = Assert.Throws<NotSupportedException>(() => new DdpmScheduler(new SchedulerConfig { VarianceType = VarianceType.FixedLargeLog }));
        Assert.Contains("fixed_large_log", e.Message);
    }
}
