using Latent.Core.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Nn;

public class Downsample2DTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Forward_HalvesSpatialSize(int padding)
    {
        using var scope = NewDisposeScope();
        using var down = new Downsample2D("d", 4, 6, padding);
        var y = down.forward(randn(2, 4, 8, 8, generator: new Generator(1)));
        Assert.Equal(new long[] { 2, 6, 4, 4 }, y.shape);
        Assert.Equal(new[] { "conv.bias", "conv.weight" }, down.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal));
    }

    [Fact]
    public void Forward_PaddingZeroPadsOnlyRightAndBottom()
    {
        using var scope = NewDisposeScope();
        using var down = new Downsample2D("d", 2, 3, padding: 0);
        var x = randn(1, 2, 6, 6, generator: new Generator(2));
        var sd = down.state_dict();
        var expected = nn.functional.conv2d(nn.functional.pad(x, new long[] { 0, 1, 0, 1 }), sd["conv.weight"], sd["conv.bias"], strides: new long[] { 2, 2 });
        Assert.True((down.forward(x) - expected).abs().max().item<float>() < 1e-6);
        // The symmetric variant differs: it sees a zero row/column on the top-left too.
        var symmetric = nn.functional.conv2d(x, sd["conv.weight"], sd["conv.bias"], strides: new long[] { 2, 2 }, padding: new long[] { 1, 1 });
        Assert.True((down.forward(x) - symmetric).abs().max().item<float>() > 1e-3);
    }

    [Fact]
    public void Constructor_ThrowsForPaddingOtherThanZeroOrOne()
    {
        var e = Assert.Throws<ArgumentException>(() => new Downsample2D("d", 4, 4, padding: 2));
        Assert.Contains("got 2", e.Message);
    }
}
