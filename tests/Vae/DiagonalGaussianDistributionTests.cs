using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Vae.Tests;

public class DiagonalGaussianDistributionTests
{
    [Fact]
    public void Kl_EqualsHandComputedValue()
    {
        using var scope = NewDisposeScope();
        // One sample, one channel, 1x2 positions: mean (1, -2), logvar (0, ln 4).
        // KL = 0.5 * [(1 + 1 - 1 - 0) + (4 + 4 - 1 - ln 4)] = 0.5 * (8 - ln 4) = 4 - ln 2.
        var moments = tensor(new float[] { 1f, -2f, 0f, MathF.Log(4f) }).reshape(1, 2, 1, 2);
        using var posterior = new DiagonalGaussianDistribution(moments);
        var kl = posterior.Kl();
        Assert.Equal(new long[] { 1 }, kl.shape);
        Assert.Equal(4.0 - Math.Log(2.0), kl.item<float>(), 5);
    }

    [Fact]
    public void Kl_IsZeroForStandardNormal()
    {
        using var scope = NewDisposeScope();
        using var posterior = new DiagonalGaussianDistribution(zeros(3, 8, 2, 2));
        Assert.True(posterior.Kl().abs().max().item<float>() == 0f);
    }

    [Fact]
    public void Constructor_ClampsLogVarAndDerivesStdAndVar()
    {
        using var scope = NewDisposeScope();
        var moments = tensor(new float[] { 0f, 0f, -100f, 100f }).reshape(1, 2, 1, 2);
        using var posterior = new DiagonalGaussianDistribution(moments);
        Assert.Equal(new[] { -30f, 20f }, posterior.LogVar.data<float>().ToArray());
        Assert.Equal(MathF.Exp(-15f), posterior.Std.data<float>()[0], 6);
        Assert.Equal(MathF.Exp(20f), posterior.Var.data<float>()[1], 1);
    }

    [Fact]
    public void Sample_WithNoise_IsMeanPlusStdTimesNoise()
    {
        using var scope = NewDisposeScope();
        var moments = tensor(new float[] { 1f, 2f, 0f, MathF.Log(9f) }).reshape(1, 2, 1, 2);
        using var posterior = new DiagonalGaussianDistribution(moments);
        var z = posterior.Sample(tensor(new float[] { 0.5f, -1f }).reshape(1, 1, 1, 2));
        Assert.Equal(1.5f, z.data<float>()[0], 5);
        Assert.Equal(-1f, z.data<float>()[1], 5);
    }

    [Fact]
    public void Sample_WithGenerator_IsReproducible()
    {
        using var scope = NewDisposeScope();
        using var posterior = new DiagonalGaussianDistribution(randn(2, 8, 4, 4, generator: new Generator(1)));
        Assert.True(posterior.Sample(new Generator(5)).equal(posterior.Sample(new Generator(5))).all().item<bool>());
    }

    [Fact]
    public void Sample_ThrowsForNoiseOfAnotherShape()
    {
        using var scope = NewDisposeScope();
        using var posterior = new DiagonalGaussianDistribution(zeros(1, 8, 2, 2));
        var e = Assert.Throws<ArgumentException>(() => posterior.Sample(zeros(1, 4, 2, 3)));
        Assert.Contains("[1, 4, 2, 2]", e.Message);
        Assert.Contains("[1, 4, 2, 3]", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForOddChannels()
    {
        using var moments = zeros(1, 3, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => new DiagonalGaussianDistribution(moments));
        Assert.Contains("[1, 3, 2, 2]", e.Message);
    }

    [Fact]
    public void Dispose_LeavesCallersMomentsAlive()
    {
        using var scope = NewDisposeScope();
        using var moments = ones(1, 2, 1, 1);
        new DiagonalGaussianDistribution(moments).Dispose();
        Assert.Equal(1f, moments.sum().item<float>() / 2f);
    }
}
