using Latent.Schedulers;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class EulerDiscreteSchedulerTests
{
    static EulerDiscreteScheduler SdEuler(int n, bool karras = false, PredictionType prediction = PredictionType.Epsilon,
        TimestepSpacing spacing = TimestepSpacing.Linspace, int offset = 0)
    {
        var s = new EulerDiscreteScheduler(Sd(SchedulerConfig.EulerClassName) with
        {
            UseKarrasSigmas = karras, PredictionType = prediction, TimestepSpacing = spacing, StepsOffset = offset,
        });
        s.SetTimesteps(n);
        return s;
    }

    /// <summary>From max sigma times the fixed sample through every timestep, model output m (1 - 0.05 k) at step k.</summary>
    static float[] Run(EulerDiscreteScheduler s) => RunSchedule(s, k => 1 - 0.05 * k, startScale: s.Sigmas.Max());

    [Fact]
    public void KarrasTimestepsAndSigmas_10_MatchDiffusers()
    {
        var s = SdEuler(10, karras: true);
        double[] expected = [999.0, 916.2839959263802, 815.0449264645576, 687.1532346010208, 523.1989423632622,
            327.14721620082855, 145.93903070688248, 40.85687202215195, 6.732408404350281, 0.0];
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], s.Timesteps[i], 1e-6 * (1 + expected[i]));   // float32 table rounding (see SchedulerTestData)
        AssertRelClose([14.614645f, 9.102936f, 5.4784007f, 3.1686108f, 1.7494229f, 0.9140764f, 0.44692087f, 0.20139985f,
            0.08191105f, 0.029167533f], s.Sigmas.Take(10).ToArray(), 4e-7);
        Assert.Equal(0f, s.Sigmas[^1]);
    }

    [Fact]
    public void WithoutKarras_TimestepsAndSigmasAreEulerAncestrals()
    {
        var euler = SdEuler(30);
        var ancestral = new EulerAncestralDiscreteScheduler(Sd(SchedulerConfig.EulerAncestralClassName));
        ancestral.SetTimesteps(30);
        Assert.Equal(ancestral.Timesteps, euler.Timesteps);
        Assert.Equal(ancestral.Sigmas, euler.Sigmas);
        Assert.Equal(ancestral.InitNoiseSigma, euler.InitNoiseSigma);
    }

    [Fact]
    public void Euler10_FullRun_MatchesDiffusers() =>
        AssertClose([0.7959497f, -0.5763817f, -1.9487132f, -3.321045f, -4.693376f, -6.065707f, -7.4380383f, -8.810372f], Run(SdEuler(10)));

    [Fact]
    public void EulerKarras10_FullRun_MatchesDiffusers() =>
        AssertClose([0.7681887f, -0.5938715f, -1.955931f, -3.317991f, -4.6800513f, -6.0421104f, -7.404169f, -8.766233f],
            Run(SdEuler(10, karras: true)));

    [Fact]
    public void VPredictionLeading_FullRun_MatchesDiffusers() =>
        AssertClose([0.32412764f, 0.14184947f, -0.040428706f, -0.22270688f, -0.404985f, -0.5872632f, -0.7695414f, -0.9518197f],
            Run(SdEuler(8, prediction: PredictionType.VPrediction, spacing: TimestepSpacing.Leading, offset: 1)));

    [Fact]
    public void SamplePrediction_LastStepLandsOnThePrediction() =>
        // The last jump goes to sigma 0: x' = x + (x - x_0) / sigma (0 - sigma) = x_0, the last output m (1 - 0.35).
        AssertClose([-0.65f, -0.40949997f, -0.16899998f, 0.0715f, 0.312f, 0.5525f, 0.793f, 1.0335001f],
            Run(SdEuler(8, prediction: PredictionType.Sample, spacing: TimestepSpacing.Leading, offset: 1)));

    [Fact]
    public void Step_IsDeterministic_AndIgnoresTheGenerator()
    {
        var s = SdEuler(10);
        using var x = Sample();
        using var m = ModelOutput();
        using var a = s.Step(m, s.Timesteps[3], x, new Generator(1));
        using var b = s.Step(m, s.Timesteps[3], x, new Generator(2));
        AssertClose(Values(a), b, 0);
    }

    [Fact]
    public void Step_ByHand()
    {
        // x' = x + (x - x_0) / sigma (sigma' - sigma) with x_0 = x - sigma eps, i.e. x + eps (sigma' - sigma).
        var s = SdEuler(10);
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, s.Timesteps[4], x);
        double sigma = s.Sigmas[4], next = s.Sigmas[5];
        float[] xs = Values(x), ms = Values(m), ps = Values(prev);
        for (int i = 0; i < 8; i++)
            Assert.Equal(xs[i] + ms[i] * (next - sigma), ps[i], 1e-5);
    }

    [Fact]
    public void LogLinearInterpolation_IsRefused()
    {
        var e = Assert.Throws<NotSupportedException>(() =>
            new EulerDiscreteScheduler(Sd(SchedulerConfig.EulerClassName) with { InterpolationType = InterpolationType.LogLinear }));
        Assert.Contains("log_linear", e.Message);
    }

    [Fact]
    public void Step_TimestepNotInTheSchedule_Throws()
    {
        var s = SdEuler(10);
        using var x = Sample();
        using var m = ModelOutput();
        var e = Assert.Throws<ArgumentException>(() => s.Step(m, 500, x));
        Assert.Contains("500", e.Message);
    }
}
