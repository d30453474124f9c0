using Latent.Core.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Nn;

public class OpsTests
{
    [Theory]
    [InlineData(1, 3, 4, 4)]
    [InlineData(2, 64, 16, 16)]
    [InlineData(1, 1, 1, 7)]
    public void UpsampleNearest2x_EqualsEngineInterpolateExactly(int b, int c, int h, int w)
    {
        using var scope = NewDisposeScope();
        var x = randn(b, c, h, w, generator: new Generator(3));
        var expected = nn.functional.interpolate(x, scale_factor: new[] { 2.0, 2.0 }, mode: InterpolationMode.Nearest);
        var actual = Ops.UpsampleNearest2x(x);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.eq(actual).all().item<bool>());
    }

    [Fact]
    public void UpsampleNearest2x_KeepsDtype()
    {
        using var scope = NewDisposeScope();
        var x = randn(1, 2, 3, 3).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, Ops.UpsampleNearest2x(x).dtype);
    }

    [Fact]
    public void UpsampleNearest2x_RawEngineUpsampleNearestStillThrows()
    {
        using var scope = NewDisposeScope();
        // Canary: the engine's own nearest upsample throws an align_corners error in 0.107.0.
        using var x = randn(1, 1, 2, 2);
        Assert.ThrowsAny<Exception>(() => nn.functional.upsample_nearest(x, scale_factor: new[] { 2.0, 2.0 }).Dispose());
    }

    [Fact]
    public void UpsampleNearest2x_ThrowsForWrongRank()
    {
        using var x = zeros(3, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => Ops.UpsampleNearest2x(x));
        Assert.Contains("[3, 4, 4]", e.Message);
    }
}
