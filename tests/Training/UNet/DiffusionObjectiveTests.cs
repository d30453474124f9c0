using Latent.Core.Engine;
using Latent.Schedulers;
using Latent.Training.UNet;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.Tests.UNet;

public class DiffusionObjectiveTests
{
    static readonly NoiseSchedule Sd = new(UNetTrainer.SchedulerConfigFor(PredictionType.Epsilon));

    // ᾱ_0 = 1 − β_0 = 1 − 0.00085 (float32: 0.99915). ᾱ_999 of SD's schedule is 0.0046600 (diffusers: alphas_cumprod[-1]).
    const double AlphaBar0 = 0.99915;
    const double AlphaBar999 = 0.0046600985;

    [Fact]
    public void Snr_MatchesHandValues()
    {
        Assert.Equal(AlphaBar0 / (1 - AlphaBar0), DiffusionObjective.Snr(Sd, 0), 5e-4 * 1175.5);
        Assert.Equal(AlphaBar999 / (1 - AlphaBar999), DiffusionObjective.Snr(Sd, 999), 1e-6);
    }

    [Fact]
    public void MinSnrWeight_Epsilon_IsMinSnrGammaOverSnr()
    {
        double snr0 = AlphaBar0 / (1 - AlphaBar0);                       // 1175.5: clipped to γ = 5
        Assert.Equal(5 / snr0, DiffusionObjective.MinSnrWeight(Sd, 0, 5, PredictionType.Epsilon), 1e-6);
        Assert.Equal(1.0, DiffusionObjective.MinSnrWeight(Sd, 999, 5, PredictionType.Epsilon), 12);   // SNR < γ: weight 1
    }

    [Fact]
    public void MinSnrWeight_V_IsMinSnrGammaOverSnrPlusOne()
    {
        double snr0 = AlphaBar0 / (1 - AlphaBar0);
        double snr999 = AlphaBar999 / (1 - AlphaBar999);
        Assert.Equal(5 / (snr0 + 1), DiffusionObjective.MinSnrWeight(Sd, 0, 5, PredictionType.VPrediction), 1e-6);
        Assert.Equal(snr999 / (snr999 + 1), DiffusionObjective.MinSnrWeight(Sd, 999, 5, PredictionType.VPrediction), 1e-6);
    }

    [Fact]
    public void MinSnrWeight_GammaZero_IsOne()
    {
        Assert.Equal(1.0, DiffusionObjective.MinSnrWeight(Sd, 0, 0, PredictionType.Epsilon));
        Assert.Equal(1.0, DiffusionObjective.MinSnrWeight(Sd, 0, 0, PredictionType.VPrediction));
    }

    [Fact]
    public void MinSnrWeight_ThrowsForSamplePrediction()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => DiffusionObjective.MinSnrWeight(Sd, 0, 5, PredictionType.Sample));
        Assert.Contains("Sample", e.Message);
    }

    [Fact]
    public void Snr_ThrowsForTimestepOutOfRange()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => DiffusionObjective.Snr(Sd, 1000));
        Assert.Contains("[0, 1000)", e.Message);
    }

    [Fact]
    public void Target_V_IsSqrtAlphaBarEpsMinusSqrtOneMinusAlphaBarX0()
    {
        using var scope = NewDisposeScope();
        using var x0 = tensor(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }).reshape(2, 1, 2, 2);
        using var eps = tensor(new float[] { -1, 0.5f, 2, 0, 1, 1, -2, 3 }).reshape(2, 1, 2, 2);
        using var v = DiffusionObjective.Target(Sd, x0, eps, [0, 999], PredictionType.VPrediction);
        double a0 = Math.Sqrt(AlphaBar0), s0 = Math.Sqrt(1 - AlphaBar0), a1 = Math.Sqrt(AlphaBar999), s1 = Math.Sqrt(1 - AlphaBar999);
        Assert.Equal(a0 * -1 - s0 * 1, v[0, 0, 0, 0].item<float>(), 1e-5);
        Assert.Equal(a0 * 0 - s0 * 4, v[0, 0, 1, 1].item<float>(), 1e-5);
        Assert.Equal(a1 * 1 - s1 * 5, v[1, 0, 0, 0].item<float>(), 1e-5);
        Assert.Equal(a1 * 3 - s1 * 8, v[1, 0, 1, 1].item<float>(), 1e-5);
    }

    [Fact]
    public void Target_Epsilon_IsTheNoise()
    {
        using var scope = NewDisposeScope();
        using var x0 = ones(2, 1, 2, 2);
        using var eps = randn(2, 1, 2, 2);
        using var target = DiffusionObjective.Target(Sd, x0, eps, [3, 500], PredictionType.Epsilon);
        Assert.True(target.eq(eps).all().item<bool>());
    }

    [Fact]
    public void Noise_WithOffset_AddsOffsetTimesOnePerChannelDraw()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(9);
        using var noise = DiffusionObjective.Noise([2, 3, 4, 4], 0.1, g);
        using var replay = new Generator(9);
        using var base_ = randn(new long[] { 2, 3, 4, 4 }, generator: replay);
        using var perChannel = randn(new long[] { 2, 3, 1, 1 }, generator: replay);
        using var expected = base_.add(Scalars.Of(0.1) * perChannel, Scalars.One);
        Assert.True(noise.eq(expected).all().item<bool>());
    }

    [Fact]
    public void Noise_WithoutOffset_IsPlainStandardNormal()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(9);
        using var noise = DiffusionObjective.Noise([2, 3, 4, 4], 0, g);
        using var replay = new Generator(9);
        using var expected = randn(new long[] { 2, 3, 4, 4 }, generator: replay);
        Assert.True(noise.eq(expected).all().item<bool>());
    }
}
