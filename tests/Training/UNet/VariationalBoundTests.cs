using Latent.Core.Engine;
using Latent.Schedulers;
using Latent.Training.UNet;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Training.Tests.UNet;

public class VariationalBoundTests
{
    static Tensor D(params double[] v) => tensor(v, dtype: ScalarType.Float64);

    // improved-diffusion's tanh approximation of the standard normal CDF, by hand
    static double Cdf(double x) => 0.5 * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    [Fact]
    public void NormalKl_MatchesHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // KL(N(0, 1) || N(1, 4)) = 0.5 (-1 + ln 4 + 1/4 + 1/4); KL(N(0.5, 0.2) || N(-0.3, 0.5)) likewise; KL(p || p) = 0
        using var kl = VariationalBound.NormalKl(D(0, 0.5, 0.7), D(0, Math.Log(0.2), 1.3), D(1, -0.3, 0.7), D(Math.Log(4), Math.Log(0.5), 1.3));
        double[] v = kl.data<double>().ToArray();
        Assert.Equal(0.4431471805599453, v[0], 12);
        Assert.Equal(0.7981453659370776, v[1], 12);
        Assert.Equal(0.0, v[2], 12);
    }

    [Fact]
    public void DiscretizedGaussianLogLikelihood_MatchesHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // inside: log(Phi((x - m + 1/255) / s) - Phi((x - m - 1/255) / s)); x > 0.999: the upper tail; x < -0.999: the lower tail
        using var ll = VariationalBound.DiscretizedGaussianLogLikelihood(D(0, 0.2, 1, -1), D(0, 0.1, 0.9, -0.8), D(0, Math.Log(0.05), Math.Log(0.1), Math.Log(0.1)));
        double[] v = ll.data<double>().ToArray();
        Assert.Equal(Math.Log(Cdf(1 / 255.0) - Cdf(-1 / 255.0)), v[0], 10);
        Assert.Equal(-5.76705747360343, v[0], 10);
        Assert.Equal(-4.76076878866201, v[1], 10);
        Assert.Equal(-1.780968722105393, v[2], 10);
        Assert.Equal(-3.6921081170527366, v[3], 10);
    }

    // One sample of 1 x 1 x 1 x 2 latents at timestep t with output [eps; v], and L_t computed by hand in double.
    static (double Actual, double Expected) OneTerm(long t, double[] x0, double[] xt, double[] eps, double[] v)
    {
        using var scope = NewDisposeScope();
        var schedule = new NoiseSchedule(Sd(SchedulerConfig.DdpmClassName));
        double Abar(long s) => s >= 0 ? schedule.AlphasCumprod[s] : 1.0;
        double beta = 1 - Abar(t) / Abar(t - 1);
        double Pv(long s) => (1 - Abar(s - 1)) / (1 - Abar(s)) * (1 - Abar(s) / Abar(s - 1));
        double minLog = Math.Log(Pv(Math.Max(t, 1))), maxLog = Math.Log(beta);
        double c0 = beta * Math.Sqrt(Abar(t - 1)) / (1 - Abar(t)), ct = (1 - Abar(t - 1)) * Math.Sqrt(1 - beta) / (1 - Abar(t));
        double sum = 0;
        for (int i = 0; i < x0.Length; i++)
        {
            double x0Hat = (xt[i] - Math.Sqrt(1 - Abar(t)) * eps[i]) / Math.Sqrt(Abar(t));
            double mean = c0 * x0Hat + ct * xt[i], trueMean = c0 * x0[i] + ct * xt[i];
            double frac = (v[i] + 1) / 2, logVar = frac * maxLog + (1 - frac) * minLog;
            if (t == 0)
            {
                double s = Math.Exp(0.5 * logVar);
                sum += -Math.Log(Cdf((x0[i] - mean + 1 / 255.0) / s) - Cdf((x0[i] - mean - 1 / 255.0) / s));
            }
            else sum += 0.5 * (-1 + logVar - minLog + Math.Exp(minLog - logVar) + (trueMean - mean) * (trueMean - mean) * Math.Exp(-logVar));
        }
        double expected = sum / x0.Length / Math.Log(2);
        using var o = tensor(eps.Concat(v).ToArray(), dtype: ScalarType.Float64).reshape(1, 2, 1, x0.Length);   // [1, 2C, 1, W] with C = 1
        using var terms = VariationalBound.Terms(schedule, D(x0).reshape(1, 1, 1, -1), D(xt).reshape(1, 1, 1, -1), [t], o, PredictionType.Epsilon);
        return (terms.item<double>(), expected);
    }

    [Fact]
    public void Terms_AtT0_IsTheDiscretisedDecoderNll()
    {
        var (actual, expected) = OneTerm(0, [0.3, -0.2], [0.31, -0.18], [0.4, -0.9], [0.5, -0.5]);
        Assert.Equal(expected, actual, 9);
        Assert.True(actual > 0);
    }

    [Fact]
    public void Terms_AboveT0_AreTheKlToThePosterior()
    {
        var (actual, expected) = OneTerm(500, [0.3, -0.2], [0.1, 0.5], [0.4, -0.9], [0.2, -1]);
        Assert.Equal(expected, actual, 9);
        Assert.True(actual > 0);
    }

    [Fact]
    public void Terms_StopTheGradientOfTheMean()
    {
        using var scope = NewDisposeScope();
        // L_vlb reaches only the variance half: the mean half's gradient is exactly zero, the variance half's is not.
        var schedule = new NoiseSchedule(Sd(SchedulerConfig.DdpmClassName));
        using var g = new TorchSharp.torch.Generator(3);
        using var x0 = randn([2, 4, 2, 2], generator: g);
        using var xt = randn([2, 4, 2, 2], generator: g);
        using var output = randn([2, 8, 2, 2], generator: g).requires_grad_(true);
        using (var terms = VariationalBound.Terms(schedule, x0, xt, [0, 700], output, PredictionType.Epsilon))
        using (var total = terms.sum())
            total.backward();
        using var grad = output.grad!;
        var (meanGrad, varianceGrad) = LearnedRange.Split(grad);
        Assert.Equal(0.0, meanGrad.abs().max().item<float>());
        Assert.True(varianceGrad.abs().max().item<float>() > 1e-4);
    }

    [Fact]
    public void Terms_ThrowsForAnOutputWithoutTheVarianceHalf()
    {
        var schedule = new NoiseSchedule(Sd(SchedulerConfig.DdpmClassName));
        using var x = zeros(1, 4, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => VariationalBound.Terms(schedule, x, x, [3], x, PredictionType.Epsilon));
        Assert.Contains("modelOutput [1, 4, 2, 2]", e.Message);
    }

    [Fact]
    public void Terms_ThrowsForATimestepOutOfRange()
    {
        var schedule = new NoiseSchedule(Sd(SchedulerConfig.DdpmClassName));
        using var x = zeros(1, 4, 2, 2);
        using var o = zeros(1, 8, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => VariationalBound.Terms(schedule, x, x, [1000], o, PredictionType.Epsilon));
        Assert.Contains("timestep 1000", e.Message);
    }
}
