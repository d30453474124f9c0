using Latent.Core.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Nn;

public class Upsample2DTests
{
    [Fact]
    public void Forward_EqualsNearestInterpolateThenConv()
    {
        using var scope = NewDisposeScope();
        using var up = new Upsample2D("u", 3, 5);
        var x = randn(2, 3, 4, 6, generator: new Generator(1));
        var y = up.forward(x);
        Assert.Equal(new long[] { 2, 5, 8, 12 }, y.shape);
        var sd = up.state_dict();
        var expected = nn.functional.conv2d(nn.functional.interpolate(x, scale_factor: new double[] { 2, 2 }, mode: InterpolationMode.Nearest),
            sd["conv.weight"], sd["conv.bias"], padding: new long[] { 1, 1 });
        Assert.True((y - expected).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void Constructor_ThrowsForNonPositiveChannels()
    {
        var e = Assert.Throws<ArgumentException>(() => new Upsample2D("u", 0, 4));
        Assert.Contains("channels=0", e.Message);
    }
}
