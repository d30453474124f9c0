using Latent.Core.Engine;
using Latent.Schedulers;
using TorchSharp;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class EulerAncestralDiscreteSchedulerTests
{
    static readonly float[] Sigmas30 =
    [
        14.614645f, 11.917564f, 9.814176f, 8.158467f, 6.843059f, 5.788556f, 4.935649f, 4.2397037f, 3.6668942f, 3.1913347f,
        2.7931483f, 2.4568832f, 2.1705198f, 1.9245884f, 1.7116185f, 1.5256537f, 1.3619238f, 1.2165793f, 1.0864831f,
        0.9690636f, 0.862175f, 0.764008f, 0.6729855f, 0.5876846f, 0.5067253f, 0.42861977f, 0.351469f, 0.272184f,
        0.18345696f, 0.029167533f, 0.0f,
    ];

    static EulerAncestralDiscreteScheduler SdEuler(int n = 30, PredictionType prediction = PredictionType.Epsilon,
        TimestepSpacing spacing = TimestepSpacing.Linspace, int offset = 0)
    {
        var s = new EulerAncestralDiscreteScheduler(Sd(SchedulerConfig.EulerAncestralClassName) with
        {
            PredictionType = prediction, TimestepSpacing = spacing, StepsOffset = offset,
        });
        s.SetTimesteps(n);
        return s;
    }

    [Fact]
    public void SetTimesteps_30_MatchesDiffusersTimestepsAndSigmas()
    {
        var s = SdEuler();
        double[] expected = [999.0, 964.5517241379312, 930.1034482758621, 895.6551724137931, 861.2068965517242,
            826.7586206896552, 792.3103448275863, 757.8620689655173, 723.4137931034484, 688.9655172413793,
            654.5172413793103, 620.0689655172414, 585.6206896551724, 551.1724137931035, 516.7241379310345,
            482.2758620689656, 447.82758620689657, 413.3793103448276, 378.93103448275866, 344.48275862068965,
            310.0344827586207, 275.58620689655174, 241.1379310344828, 206.6896551724138, 172.24137931034483,
            137.79310344827587, 103.3448275862069, 68.89655172413794, 34.44827586206897, 0.0];
        Assert.Equal(expected, s.Timesteps);
        AssertRelClose(Sigmas30, s.Sigmas.ToArray(), 4e-7);
        Assert.Equal(ScalarType.Float64, s.TimestepDtype);
    }

    [Fact]
    public void Sigmas_InterpolateLinearlyInTimestep()
    {
        // sigma(t) between training steps j and j+1 is (1 - f) sigma_j + f sigma_{j+1}, f = t - j (np.interp), sigma_j = sqrt((1 - ab_j) / ab_j).
        var s = SdEuler();
        double t = s.Timesteps[1];
        int j = (int)Math.Floor(t);
        double f = t - j;
        double sj = Math.Sqrt((1 - s.Schedule.AlphasCumprod[j]) / s.Schedule.AlphasCumprod[j]);
        double sj1 = Math.Sqrt((1 - s.Schedule.AlphasCumprod[j + 1]) / s.Schedule.AlphasCumprod[j + 1]);
        Assert.Equal((1 - f) * sj + f * sj1, s.Sigmas[1], 2e-6 * sj);
    }

    [Fact]
    public void InitNoiseSigma_DependsOnSpacing()
    {
        Assert.Equal(14.614645f, SdEuler().InitNoiseSigma, 4e-7f * 14.614645f);   // max sigma
        var leading = SdEuler(spacing: TimestepSpacing.Leading, offset: 1);
        Assert.Equal(958.0, leading.Timesteps[0]);
        Assert.Equal(11.520333f, leading.InitNoiseSigma, 4e-7f * 11.520333f);   // sqrt(sigma_max^2 + 1) over the leading sigmas
    }

    [Fact]
    public void TwoSteps_MatchDiffusers()
    {
        using var scope = NewDisposeScope();
        // x_T = sample * init_noise_sigma; each step: model input x / sqrt(sigma^2 + 1), then step with one generator.
        var s = SdEuler();
        using var gen = new Generator(0);
        using var m = ModelOutput();
        using var initNoiseSigma = s.InitNoiseSigma.ToScalar();
        Tensor x = Sample() * initNoiseSigma;
        float[][] expectedInputs =
        [
            [-0.87295884f, -0.6235421f, -0.3741252f, -0.12470841f, 0.12470841f, 0.3741252f, 0.6235421f, 0.87295884f],
            [0.2289939f, -0.675075f, -1.6085232f, 0.13008037f, -0.66931665f, -0.69645345f, 0.496918f, 0.9016583f],
        ];
        float[][] expectedOutputs =
        [
            [2.7386398f, -8.073523f, -19.237045f, 1.5556891f, -8.004656f, -8.329197f, 5.9428635f, 10.783333f],
            [2.569592f, -7.902815f, -21.561672f, 2.1472983f, -14.615396f, -5.4616065f, -4.7005105f, 5.367984f],
        ];
        for (int k = 0; k < 2; k++)
        {
            using (Tensor input = s.ScaleModelInput(x, s.Timesteps[k])) AssertClose(expectedInputs[k], input);
            Tensor next = s.Step(m, s.Timesteps[k], x, gen);
            x.Dispose();
            x = next;
            AssertClose(expectedOutputs[k], x);
        }
        x.Dispose();
    }

    [Fact]
    public void LastStep_HasNoNoise()
    {
        using var scope = NewDisposeScope();
        // sigma' = 0: sigma_up = sigma_down = 0 and x' = x_0 = x - sigma eps (the generator is still advanced).
        var sigma = Scalars.Of(0.029167533f);   // sigma at the last timestep
        var s = SdEuler();
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, s.Timesteps[29], x, new Generator(0));
        AssertClose([-0.84583247f, -0.6066245f, -0.36741644f, -0.12820843f, 0.110999584f, 0.3502076f, 0.5894156f, 0.8286236f], prev);
        AssertClose(Values(x - sigma * m), prev);
    }

    [Fact]
    public void Step_VPrediction_MatchesDiffusers()
    {
        var s = SdEuler(prediction: PredictionType.VPrediction);
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, s.Timesteps[10], x, new Generator(0));
        AssertClose([1.3145473f, -0.70836097f, -2.7907987f, 0.5409771f, -1.2698411f, -1.5158759f, 0.71112955f, 1.3401806f], prev);
    }

    [Fact]
    public void AddNoise_UsesTheScheduleSigma()
    {
        var s = SdEuler();
        using var x0 = ones(2, 1, 1, 1);
        using var noise = ones(2, 1, 1, 1);
        using var t = tensor(new[] { s.Timesteps[0], s.Timesteps[29] });
        using var xt = s.AddNoise(x0, noise, t);
        AssertClose([1 + 14.614645f, 1 + 0.029167533f], xt);
    }

    [Fact]
    public void AddNoise_ThrowsForTimestepOutsideSchedule()
    {
        var s = SdEuler();
        using var x = ones(1, 1, 1, 1);
        using var t = tensor(new[] { 500.0 });
        var e = Assert.Throws<ArgumentException>(() => s.AddNoise(x, x, t));
        Assert.Contains("500", e.Message);
    }

    [Fact]
    public void Step_ThrowsForTimestepOutsideSchedule()
    {
        var s = SdEuler();
        using var x = ones(1, 1, 1, 1);
        var e = Assert.Throws<ArgumentException>(() => s.Step(x, 500, x));
        Assert.Contains("500", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForSamplePrediction()
    {
        var e = Assert.Throws<NotSupportedException>(() =>
            new EulerAncestralDiscreteScheduler(new SchedulerConfig { PredictionType = PredictionType.Sample }));
        Assert.Contains("sample", e.Message);
    }
}
