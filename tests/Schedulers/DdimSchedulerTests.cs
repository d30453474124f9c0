using Latent.Core.Engine;
using Latent.Schedulers;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class DdimSchedulerTests
{
    static DdimScheduler SdDdim(double eta = 0, PredictionType prediction = PredictionType.Epsilon, bool thresholding = false)
    {
        var s = new DdimScheduler(Sd(SchedulerConfig.DdimClassName) with
        {
            StepsOffset = 1, PredictionType = prediction, Thresholding = thresholding,
        }, eta);
        s.SetTimesteps(50);
        return s;
    }

    [Fact]
    public void Step_Eta0_MatchesDiffusers()
    {
        var s = SdDdim();
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 981, x);
        AssertClose([-0.8592433f, -0.6241336f, -0.3890239f, -0.15391421f, 0.0811955f, 0.31630522f, 0.55141497f, 0.78652465f], prev);
        Assert.Equal(0.20653686f, s.Variance(981, 961), 1e-5f * 0.20653686f);   // float32 cancellation, see the DDPM posterior test
    }

    [Fact]
    public void Step_Eta0_ByHand()
    {
        // DDIM eq. 12 with sigma = 0: x_{t'} = sqrt(ab') (x - sqrt(1 - ab) eps) / sqrt(ab) + sqrt(1 - ab') eps.
        var s = SdDdim();
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 501, x);
        double ab = s.Schedule.AlphasCumprod[501], abPrev = s.Schedule.AlphasCumprod[481];
        float[] xs = Values(x), ms = Values(m), ps = Values(prev);
        for (int i = 0; i < 8; i++)
        {
            double x0 = (xs[i] - Math.Sqrt(1 - ab) * ms[i]) / Math.Sqrt(ab);
            Assert.Equal(Math.Sqrt(abPrev) * x0 + Math.Sqrt(1 - abPrev) * ms[i], ps[i], 1e-5);
        }
    }

    [Fact]
    public void Step_LastStep_UsesFinalAlphaCumprod()
    {
        var s = SdDdim();
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 1, x);
        AssertClose([-0.8632324f, -0.6176179f, -0.3720035f, -0.12638906f, 0.1192254f, 0.36483982f, 0.61045426f, 0.8560688f], prev);
        Assert.Equal(0.00042634894f, s.Variance(1, -19), 1e-5f * 0.00042634894f);
    }

    [Fact]
    public void Step_Eta0_IsDeterministic()
    {
        var s = SdDdim();
        using var x = Sample();
        using var m = ModelOutput();
        using var a = s.Step(m, 501, x, new Generator(1));
        using var b = s.Step(m, 501, x, new Generator(2));
        AssertClose(Values(a), b, 0);
    }

    [Fact]
    public void Step_Eta1_AddsSeededNoise()
    {
        var s = SdDdim(eta: 1);
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 501, x, new Generator(0));
        AssertClose([-0.3519493f, -0.67173517f, -1.006536f, 0.024277091f, -0.24201381f, -0.11362314f, 0.6385364f, 0.9876477f], prev);
        Assert.Equal(0.086898014f, s.Variance(501, 481), 1e-5f * 0.086898014f);
    }

    [Fact]
    public void Step_VPrediction_MatchesDiffusers()
    {
        var s = SdDdim(prediction: PredictionType.VPrediction);
        using var x = Sample();
        using var m = ModelOutput();
        using var prev = s.Step(m, 501, x);
        AssertClose([-0.84448004f, -0.60573894f, -0.3669979f, -0.12825677f, 0.11048433f, 0.3492255f, 0.58796656f, 0.82670766f], prev);
    }

    [Fact]
    public void Step_SamplePredictionWithThresholding_MatchesDiffusers()
    {
        using var scope = NewDisposeScope();
        var s = SdDdim(prediction: PredictionType.Sample, thresholding: true);
        using var x = Sample();
        using var m = ModelOutput() * Scalars.Of(4);
        using var prev = s.Step(m, 501, x);
        AssertClose([0.64956266f, 0.1334449f, -0.3826728f, -0.10705823f, -0.31528002f, -0.8313977f, -1.3475153f, -1.8636334f], prev);
    }

    [Fact]
    public void DynamicThresholding_MatchesDiffusers()
    {
        using var scope = NewDisposeScope();
        using var x = TestTensors.Arange(16, dtype: ScalarType.Float32).reshape(2, 2, 2, 2) * Scalars.Of(0.25) - Scalars.Of(2);
        using var y = DynamicThresholding.Apply(x, 0.9, 1.5);
        AssertClose([-1.0f, -1.0f, -1.0f, -0.8333333f, -0.6666667f, -0.5f, -0.33333334f, -0.16666667f, 0.0f, 0.16666667f,
            0.33333334f, 0.5f, 0.6666667f, 0.8333333f, 1.0f, 1.0f], y);
    }

    [Fact]
    public void Step_ClipSample_ClampsPredictedX0()
    {
        // sample prediction with clip_sample: x_0 = clamp(model, -0.5, 0.5), while eps = (x - sqrt(ab) model) / sqrt(1 - ab)
        // comes from the unclipped x_0 (diffusers derives it before clipping unless use_clipped_model_output).
        var s = new DdimScheduler(new SchedulerConfig { ClipSample = true, ClipSampleRange = 0.5, PredictionType = PredictionType.Sample });
        s.SetTimesteps(10);
        using var x = zeros(1, 1, 1, 1);
        using var m = full(1, 1, 1, 1, Scalars.Of(3.0));
        using var prev = s.Step(m, 900, x);
        double ab = s.Schedule.AlphasCumprod[900], abPrev = s.Schedule.AlphasCumprod[800];
        double eps = (0 - Math.Sqrt(ab) * 3) / Math.Sqrt(1 - ab);
        Assert.Equal(Math.Sqrt(abPrev) * 0.5 + Math.Sqrt(1 - abPrev) * eps, Values(prev)[0], 1e-5);
    }

    [Fact]
    public void Step_ThrowsBeforeSetTimesteps()
    {
        var s = new DdimScheduler(new SchedulerConfig());
        using var x = zeros(1, 1, 1, 1);
        var e = Assert.Throws<InvalidOperationException>(() => s.Step(x, 10, x));
        Assert.Contains("SetTimesteps", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForNegativeEta()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DdimScheduler(new SchedulerConfig(), eta: -0.5));
        Assert.Contains("-0.5", e.Message);
    }
}
