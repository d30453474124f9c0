using Latent.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

public class GradientClippingTests
{
    static Parameter WithGrad(float[] grad)
    {
        using var init = zeros(grad.Length);
        var p = new Parameter(init);
        using var scope = NewDisposeScope();
        (p * tensor(grad)).sum().backward();
        return p;
    }

    [Fact]
    public void Clip_ReturnsTotalNormBeforeClipping_AndScalesToMaxNorm()
    {
        using var scope = NewDisposeScope();
        using var a = WithGrad([3f, 0f]);
        using var b = WithGrad([0f, 4f, 0f]);
        using var noGrad = new Parameter(ones(2));   // never had a gradient
        var result = GradientClipping.ClipByTotalNorm([a, b, noGrad], maxNorm: 1.0);
        Assert.Equal(5.0, result.TotalNorm, 1e-6);
        Assert.True(result.Clipped);
        Assert.True(result.IsFinite);
        // Scaled by 1 / (5 + 1e-6): new norm just under 1.
        Assert.Equal(0.6, a.grad!.data<float>()[0], 1e-6);
        Assert.Equal(0.8, b.grad!.data<float>()[1], 1e-6);
        Assert.Null(noGrad.grad);
    }

    [Fact]
    public void Clip_LeavesSmallGradientsBitForBit()
    {
        using var scope = NewDisposeScope();
        using var a = WithGrad([0.3f, -0.4f]);
        var result = GradientClipping.ClipByTotalNorm([a], maxNorm: 1.0);
        Assert.Equal(0.5, result.TotalNorm, 1e-6);
        Assert.False(result.Clipped);
        Assert.Equal([0.3f, -0.4f], a.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Clip_ReportsNonFiniteNorm_AndLeavesGradientsUntouched()
    {
        using var scope = NewDisposeScope();
        using var a = WithGrad([float.NaN, 1f]);
        using var b = WithGrad([2f]);
        var result = GradientClipping.ClipByTotalNorm([a, b], maxNorm: 1.0);
        Assert.False(result.IsFinite);
        Assert.False(result.Clipped);
        Assert.Equal(2f, b.grad!.data<float>()[0]);
        using var c = WithGrad([float.PositiveInfinity]);
        Assert.True(double.IsPositiveInfinity(GradientClipping.ClipByTotalNorm([c], 1.0).TotalNorm));
    }

    [Fact]
    public void Clip_NoGradients_ReturnsZero()
    {
        using var scope = NewDisposeScope();
        using var a = new Parameter(ones(2));
        Assert.Equal(0.0, GradientClipping.ClipByTotalNorm([a], 1.0).TotalNorm);
    }

    [Fact]
    public void TotalNorm_MeasuresLikeClip_AndLeavesGradientsUntouched()
    {
        using var scope = NewDisposeScope();
        using var a = WithGrad([3f, 0f]);
        using var b = WithGrad([0f, 4f, 0f]);
        using var noGrad = new Parameter(ones(2));
        var result = GradientClipping.TotalNorm([a, b, noGrad]);
        Assert.Equal(5.0, result.TotalNorm, 1e-6);
        Assert.False(result.Clipped);
        Assert.Equal([3f, 0f], a.grad!.data<float>().ToArray());
        using var c = WithGrad([float.NaN]);
        Assert.False(GradientClipping.TotalNorm([a, c]).IsFinite);
        Assert.Equal(0.0, GradientClipping.TotalNorm([noGrad]).TotalNorm);
    }

    [Fact]
    public void Clip_ThrowsForNonPositiveMaxNorm()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipByTotalNorm([], 0.0));
        Assert.Contains("maxNorm", e.Message);
    }
}
