using Latent.Core.Engine;
using Latent.Schedulers;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class PndmSchedulerTests
{
    static PndmScheduler SdPndm(bool skipPrk = true, TimestepSpacing spacing = TimestepSpacing.Leading, int offset = 1,
        PredictionType prediction = PredictionType.Epsilon, bool setAlphaToOne = false) =>
        new(Sd(SchedulerConfig.PndmClassName) with
        {
            SkipPrkSteps = skipPrk, TimestepSpacing = spacing, StepsOffset = offset, PredictionType = prediction,
            SetAlphaToOne = setAlphaToOne,
        });

    /// <summary>Runs every timestep (or the first <paramref name="steps"/>) with model output m (1 - 0.05 k) at call k.</summary>
    static float[] Run(PndmScheduler s, int? steps = null) => RunSchedule(s, k => 1 - 0.05 * k, steps: steps);

    [Fact]
    public void PlmsTimesteps_RepeatTheSecond()
    {
        var s = SdPndm();
        s.SetTimesteps(50);
        Assert.Equal([981.0, 961, 961, .. Enumerable.Range(0, 48).Select(i => 941.0 - 20 * i)], s.Timesteps);
        s = SdPndm(spacing: TimestepSpacing.Linspace, offset: 0);
        s.SetTimesteps(7);
        Assert.Equal([999, 832, 832, 666, 500, 333, 166, 0], s.Timesteps);
    }

    [Fact]
    public void RungeKuttaTimesteps_AreHalfStepStagesThenMultistep()
    {
        var s = SdPndm(skipPrk: false);
        s.SetTimesteps(10);
        Assert.Equal([901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1], s.Timesteps);
    }

    [Fact]
    public void PlmsFirstTwoSteps_MatchDiffusers()
    {
        // The first jump is DDIM's (eq. 9 with e = e_0); the second, at the repeated timestep, redoes it with (e_0 + e_1) / 2.
        var s = SdPndm();
        s.SetTimesteps(50);
        using var x = Sample();
        using var m = ModelOutput();
        using var first = s.Step(m, 981, x);
        AssertClose([-0.8592433f, -0.6241336f, -0.38902387f, -0.15391418f, 0.0811955f, 0.31630516f, 0.5514149f, 0.78652453f], first);
        using var half = m * Scalars.Of(0.5);
        using var second = s.Step(half, 961, first);
        AssertClose([-0.89005625f, -0.64354575f, -0.39703524f, -0.15052477f, 0.09598574f, 0.34249622f, 0.5890068f, 0.8355172f], second);
    }

    [Fact]
    public void Plms10_FullRun_MatchesDiffusers()
    {
        var s = SdPndm();
        s.SetTimesteps(10);
        AssertClose([-0.28678775f, -0.8036039f, -1.32042f, -1.8372357f, -2.354052f, -2.8708687f, -3.387685f, -3.9045007f], Run(s));
    }

    [Fact]
    public void RungeKutta10_FullRun_MatchesDiffusers()
    {
        var s = SdPndm(skipPrk: false);
        s.SetTimesteps(10);
        AssertClose([-1.9184237f, -1.8315352f, -1.7446454f, -1.6577559f, -1.5708667f, -1.4839771f, -1.3970878f, -1.3101984f], Run(s));
    }

    [Fact]
    public void PlmsVPredictionTrailing_FullRun_MatchesDiffusers()
    {
        var s = SdPndm(spacing: TimestepSpacing.Trailing, offset: 0, prediction: PredictionType.VPrediction, setAlphaToOne: true);
        s.SetTimesteps(7);
        AssertClose([0.23581995f, 0.08729284f, -0.06123425f, -0.20976129f, -0.35828835f, -0.50681543f, -0.65534246f, -0.80386984f], Run(s));
    }

    [Fact]
    public void SetTimesteps_ForgetsTheHistory()
    {
        var s = SdPndm();
        s.SetTimesteps(10);
        float[] fresh = Run(s);
        s.SetTimesteps(10);
        Run(s, steps: 4);
        s.SetTimesteps(10);
        AssertClose(fresh, Run(s), 0);
    }

    [Fact]
    public void Step_BeforeSetTimesteps_Throws()
    {
        using var x = Sample();
        using var m = ModelOutput();
        var e = Assert.Throws<InvalidOperationException>(() => SdPndm().Step(m, 981, x));
        Assert.Contains("SetTimesteps", e.Message);
    }

    [Fact]
    public void Step_TimestepOutsideTheTrainingRange_Throws()
    {
        var s = SdPndm();
        s.SetTimesteps(10);
        using var x = Sample();
        using var m = ModelOutput();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.Step(m, 1000, x));
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public void RungeKutta_FewerThanFourSteps_IsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SdPndm(skipPrk: false).SetTimesteps(3));
        Assert.Contains("at least 4 steps", e.Message);
        var plms = SdPndm();
        plms.SetTimesteps(1);
        Assert.Equal([1.0], plms.Timesteps);
    }

    [Fact]
    public void SamplePrediction_IsRefused() =>
        Assert.Throws<NotSupportedException>(() => SdPndm(prediction: PredictionType.Sample));

    [Fact]
    public void AddNoise_IsTheForwardProcess()
    {
        var s = SdPndm();
        using var x0 = Sample();
        using var noise = ModelOutput();
        using var t = tensor(new long[] { 500 });
        using var got = s.AddNoise(x0, noise, t);
        using var expected = s.Schedule.AddNoise(x0, noise, t);
        AssertClose(Values(expected), got, 0);
    }
}
