using Latent.Core.Engine;
using Latent.Core.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Nn;

public class ResnetBlock2DTests
{
    private static string[] Keys(nn.Module module) => module.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();

    [Fact]
    public void Forward_MapsInputChannelsToOutputChannels()
    {
        using var scope = NewDisposeScope();
        using var block = new ResnetBlock2D("r", 8, 16, tembChannels: null, groups: 4);
        var y = block.forward(randn(2, 8, 6, 5, generator: new Generator(1)), null);
        Assert.Equal(new long[] { 2, 16, 6, 5 }, y.shape);
        Assert.False(y.isnan().any().item<bool>());
    }

    [Fact]
    public void Keys_WithoutTembAndSameChannels_HaveNoProjectionOrShortcut()
    {
        using var block = new ResnetBlock2D("r", 8, 8, tembChannels: null, groups: 4);
        Assert.Equal(new[] { "conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "norm1.bias", "norm1.weight", "norm2.bias", "norm2.weight" }, Keys(block));
    }

    [Fact]
    public void Keys_WithTembAndChannelChange_HaveProjectionAndOneByOneShortcut()
    {
        using var scope = NewDisposeScope();
        using var block = new ResnetBlock2D("r", 8, 12, tembChannels: 20, groups: 4);
        var sd = block.state_dict();
        Assert.Equal(new long[] { 12, 20 }, sd["time_emb_proj.weight"].shape);
        Assert.Equal(new long[] { 12, 8, 1, 1 }, sd["conv_shortcut.weight"].shape);
        Assert.Equal(12, sd.Count);
    }

    [Fact]
    public void Forward_TembAddsProjectedSiluOfTembBeforeNorm2()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var block = new ResnetBlock2D("r", 4, 4, tembChannels: 6, groups: 2);
        block.eval();
        var x = randn(2, 4, 5, 5, generator: new Generator(2));
        var temb = randn(2, 6, generator: new Generator(4));
        var sd = block.state_dict();
        var y = block.forward(x, temb);

        // Hand-written reference of diffusers' forward.
        var h = nn.functional.conv2d(nn.functional.silu(nn.functional.group_norm(x, 2, sd["norm1.weight"], sd["norm1.bias"], 1e-6)),
            sd["conv1.weight"], sd["conv1.bias"], padding: new long[] { 1, 1 });
        var tembProj = nn.functional.linear(nn.functional.silu(temb), sd["time_emb_proj.weight"], sd["time_emb_proj.bias"]).reshape(2, 4, 1, 1);
        h = h.add(tembProj, Scalars.One);
        h = nn.functional.conv2d(nn.functional.silu(nn.functional.group_norm(h, 2, sd["norm2.weight"], sd["norm2.bias"], 1e-6)),
            sd["conv2.weight"], sd["conv2.bias"], padding: new long[] { 1, 1 });
        var expected = x.add(h, Scalars.One);
        Assert.True((y - expected).abs().max().item<float>() < 1e-5);
        Assert.True((y - block.forward(x, null)).abs().max().item<float>() > 1e-3, "the time embedding must change the output");
    }

    [Fact]
    public void Forward_ShortcutProjectsInputAndScaleDividesSum()
    {
        using var scope = NewDisposeScope();
        using var block = new ResnetBlock2D("r", 4, 8, tembChannels: null, groups: 2, outputScaleFactor: 2.0);
        var x = randn(1, 4, 3, 3, generator: new Generator(5));
        var sd = block.state_dict();
        // Zero conv2 so that the residual branch vanishes: the output is then conv_shortcut(x) / 2.
        using (no_grad())
        {
            sd["conv2.weight"].zero_();
            sd["conv2.bias"].zero_();
        }
        var expected = nn.functional.conv2d(x, sd["conv_shortcut.weight"], sd["conv_shortcut.bias"]) / Scalars.Of(2.0);
        Assert.True((block.forward(x, null) - expected).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void Forward_ThrowsForTembWithoutProjection()
    {
        using var scope = NewDisposeScope();
        using var block = new ResnetBlock2D("r", 4, 4, tembChannels: null, groups: 2);
        var e = Assert.Throws<ArgumentException>(() => block.forward(zeros(1, 4, 2, 2), zeros(1, 3)));
        Assert.Contains("tembChannels", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForChannelsNotDivisibleByGroups()
    {
        var e = Assert.Throws<ArgumentException>(() => new ResnetBlock2D("r", 48, 48, null, groups: 32));
        Assert.Contains("48 channels", e.Message);
    }
}
