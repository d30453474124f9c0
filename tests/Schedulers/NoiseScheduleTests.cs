using Latent.Core.Engine;
using Latent.Schedulers;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class NoiseScheduleTests
{
    static readonly int[] Probe = [0, 1, 499, 998, 999];

    /// <summary>Within 4e-7 relative: PyTorch 1.13.1's linspace differs from libtorch 2.10's by up to 1 ulp (see SchedulerTestData).</summary>
    static void AssertTable(float[] table, float[] expected) => AssertRelClose(expected, Probe.Select(i => table[i]).ToArray(), 4e-7);

    [Fact]
    public void Linear_MatchesTorchFloat32()
    {
        var s = new NoiseSchedule(new SchedulerConfig());
        AssertTable(s.Betas, [1e-04f, 0.00011991992f, 0.010040041f, 0.01998008f, 0.02f]);
        AssertTable(s.AlphasCumprod, [0.9999f, 0.99978006f, 0.07858724f, 4.1181946e-05f, 4.0358307e-05f]);
    }

    [Fact]
    public void ScaledLinear_MatchesTorchFloat32()
    {
        var s = new NoiseSchedule(new SchedulerConfig { BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = BetaSchedule.ScaledLinear });
        AssertTable(s.Betas, [0.00084999995f, 0.0008546986f, 0.004803794f, 0.011982375f, 0.011999999f]);
        AssertTable(s.AlphasCumprod, [0.99915f, 0.998296f, 0.27766946f, 0.004716696f, 0.004660096f]);
    }

    [Fact]
    public void Cosine_MatchesBetasForAlphaBar()
    {
        var s = new NoiseSchedule(new SchedulerConfig { BetaSchedule = BetaSchedule.SquaredCosCapV2 });
        AssertTable(s.Betas, [4.1284224e-05f, 4.614175e-05f, 0.0031458861f, 0.7499994f, 0.999f]);
        AssertTable(s.AlphasCumprod, [0.9999587f, 0.99991256f, 0.49384347f, 2.4287663e-06f, 2.428735e-09f]);
    }

    [Fact]
    public void Cosine_FollowsAlphaBarFormulaByHand()
    {
        // alpha_bar(t) = cos^2((t/T + 0.008) / 1.008 * pi/2) / cos^2(0.008 / 1.008 * pi/2), before the 0.999 cap bites.
        var s = new NoiseSchedule(new SchedulerConfig { BetaSchedule = BetaSchedule.SquaredCosCapV2 });
        static double F(double u) => Math.Pow(Math.Cos((u + 0.008) / 1.008 * Math.PI / 2), 2);
        foreach (int t in new[] { 0, 250, 500, 750 })
            Assert.Equal(F((t + 1) / 1000.0) / F(0), s.AlphasCumprod[t], 5e-6);
    }

    [Fact]
    public void Sigmoid_IsDdpmOnly()
    {
        var ddpm = new NoiseSchedule(new SchedulerConfig { BetaSchedule = BetaSchedule.Sigmoid }, allowSigmoid: true);
        AssertTable(ddpm.Betas, [0.0001492052f, 0.00014979832f, 0.010020121f, 0.0199502f, 0.019950796f]);
        AssertTable(ddpm.AlphasCumprod, [0.9998508f, 0.999701f, 0.301931f, 4.0489624e-05f, 3.968182e-05f]);
        var e = Assert.Throws<NotSupportedException>(() => new NoiseSchedule(new SchedulerConfig { BetaSchedule = BetaSchedule.Sigmoid }));
        Assert.Contains("Sigmoid", e.Message);
    }

    [Fact]
    public void RescaleZeroTerminalSnr_EndsAtZero()
    {
        var config = new SchedulerConfig
        {
            BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = BetaSchedule.ScaledLinear, RescaleBetasZeroSnr = true,
        };
        var s = new NoiseSchedule(config, allowRescale: true);
        // Absolute tolerance: sqrt(alpha_bar_t) - sqrt(alpha_bar_{T-1}) cancels near t = T-1, so the 1-ulp linspace
        // differences (see SchedulerTestData) become 4e-5 relative at t = 998, yet only 7e-12 absolute.
        AssertClose([0.99915f, 0.9982335f, 0.24235895f, 1.96789e-07f, 0.0f], Probe.Select(i => s.AlphasCumprod[i]).ToArray(), 1e-7);
        Assert.Equal(0f, s.AlphasCumprod[^1]);
    }

    [Fact]
    public void RescaleZeroTerminalSnr_ThrowsWhereDiffusersLacksIt()
    {
        var e = Assert.Throws<NotSupportedException>(() => new NoiseSchedule(new SchedulerConfig { RescaleBetasZeroSnr = true }));
        Assert.Contains("rescale_betas_zero_snr", e.Message);
    }

    [Fact]
    public void TrainedBetas_AreUsedAsFloat32()
    {
        double[] betas = Enumerable.Range(0, 10).Select(i => 0.01 + 0.001 * i).ToArray();
        var s = new NoiseSchedule(new SchedulerConfig { NumTrainTimesteps = 10, TrainedBetas = betas });
        Assert.Equal(betas.Select(b => (float)b), s.Betas);
        double expected = betas.Aggregate(1.0, (p, b) => p * (1 - (float)b));
        Assert.Equal(expected, s.AlphasCumprod[^1], 1e-6);
    }

    [Fact]
    public void TrainedBetas_ThrowsForWrongLength()
    {
        var e = Assert.Throws<ArgumentException>(() => new NoiseSchedule(new SchedulerConfig { NumTrainTimesteps = 10, TrainedBetas = [0.1, 0.2] }));
        Assert.Contains("2 values", e.Message);
        Assert.Contains("10", e.Message);
    }

    [Fact]
    public void TrainedBetas_ThrowsForValueOutsideUnitInterval()
    {
        var e = Assert.Throws<ArgumentException>(() => new NoiseSchedule(new SchedulerConfig { NumTrainTimesteps = 2, TrainedBetas = [0.1, 1.0] }));
        Assert.Contains("trained_betas[1] = 1", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForTooFewTrainingSteps()
    {
        var e = Assert.Throws<ArgumentException>(() => new NoiseSchedule(new SchedulerConfig { NumTrainTimesteps = 1 }));
        Assert.Contains("got 1", e.Message);
    }

    [Fact]
    public void AddNoise_PerSampleTimesteps_MatchesDiffusers()
    {
        using var scope = NewDisposeScope();
        var s = new NoiseSchedule(new SchedulerConfig());
        using var x0 = TestTensors.Arange(16, dtype: ScalarType.Float32).reshape(2, 2, 2, 2) / Scalars.Of(8) - Scalars.Of(1);
        using var noise = ones(2, 2, 2, 2) * Scalars.Of(0.5);
        using var t = tensor(new long[] { 10, 900 });
        using var xt = s.AddNoise(x0, noise, t);
        AssertClose([-0.97548515f, -0.8506223f, -0.7257595f, -0.60089666f, -0.47603384f, -0.35117102f, -0.2263082f, -0.10144536f,
            0.49993244f, 0.50198734f, 0.5040422f, 0.5060971f, 0.508152f, 0.5102069f, 0.51226175f, 0.5143167f], xt);
    }

    [Fact]
    public void AddNoise_ScalarTimestep_AppliesToEverySample()
    {
        var s = new NoiseSchedule(new SchedulerConfig());
        using var x0 = ones(3, 4);
        using var noise = zeros(3, 4);
        using var t = tensor(499L);
        using var xt = s.AddNoise(x0, noise, t);
        AssertClose(Enumerable.Repeat(MathF.Sqrt(s.AlphasCumprod[499]), 12).ToArray(), xt, 0);
    }

    [Fact]
    public void AddNoise_SamplesForwardMarginal()
    {
        using var scope = NewDisposeScope();
        // q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I), DDPM eq. 4. With N = 200,000 draws per sample the
        // standard error of the mean is sqrt(1 - alpha_bar)/sqrt(N) <= 0.0023 and that of the variance
        // (1 - alpha_bar) sqrt(2/N) <= 0.0032; the tolerance is 5 standard errors (a false failure has p < 1e-6).
        var s = new NoiseSchedule(new SchedulerConfig());
        const int N = 200_000;
        long[] ts = [0, 250, 999];
        using var gen = new Generator(1234);
        using var x0 = full(3, N, Scalars.Of(0.7f));
        using var noise = randn([3, N], generator: gen);
        using var t = tensor(ts);
        using var xt = s.AddNoise(x0, noise, t);
        using var mean = xt.mean([1L]);
        using var variance = xt.var(1);
        for (int i = 0; i < ts.Length; i++)
        {
            double ab = s.AlphasCumprod[ts[i]];
            double seMean = Math.Sqrt((1 - ab) / N), seVar = (1 - ab) * Math.Sqrt(2.0 / N);
            Assert.InRange(mean[i].item<float>(), Math.Sqrt(ab) * 0.7 - 5 * seMean, Math.Sqrt(ab) * 0.7 + 5 * seMean);
            Assert.InRange(variance[i].item<float>(), 1 - ab - 5 * seVar, 1 - ab + 5 * seVar);
        }
    }

    [Fact]
    public void AddNoise_ThrowsForTimestepOutOfRange()
    {
        var s = new NoiseSchedule(new SchedulerConfig());
        using var x = zeros(2, 3);
        using var t = tensor(new long[] { 5, 1000 });
        var e = Assert.Throws<ArgumentException>(() => s.AddNoise(x, x, t));
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public void AddNoise_ThrowsForTimestepCountMismatch()
    {
        var s = new NoiseSchedule(new SchedulerConfig());
        using var x = zeros(2, 3);
        using var t = tensor(new long[] { 1, 2, 3 });
        var e = Assert.Throws<ArgumentException>(() => s.AddNoise(x, x, t));
        Assert.Contains("3 entries", e.Message);
    }

    [Fact]
    public void AddNoise_ThrowsForNoiseShapeMismatch()
    {
        var s = new NoiseSchedule(new SchedulerConfig());
        using var x = zeros(2, 3);
        using var n = zeros(2, 4);
        using var t = tensor(1L);
        var e = Assert.Throws<ArgumentException>(() => s.AddNoise(x, n, t));
        Assert.Contains("[2, 4]", e.Message);
    }
}
