using Latent.Core.Engine;
using Latent.Core.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Nn;

public class LayersTests
{
    [Fact]
    public void GroupNorm_InitialisesWeightToOnesAndBiasToZeros()
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < 20; i++)
        {
            using var norm = Layers.GroupNorm(4, 64, eps: 1e-6);
            Assert.True(norm.weight!.eq(Scalars.Of(1)).all().item<bool>(), "weight must start at 1");
            Assert.True(norm.bias!.eq(Scalars.Of(0)).all().item<bool>(), "bias must start at 0");
        }
    }

    [Fact]
    public void GroupNorm_FreshLayerNormalisesToZeroMeanUnitVariance()
    {
        using var scope = NewDisposeScope();
        using var norm = Layers.GroupNorm(2, 8, eps: 1e-6);
        var x = (randn(3, 8, 5, 5, generator: new Generator(7)) * Scalars.Of(3)).add(Scalars.Of(2), Scalars.One); // std 3, mean 2
        var y = norm.forward(x).reshape(3, 2, -1);
        Assert.False(y.isnan().any().item<bool>());
        Assert.True(y.mean(new long[] { 2 }).abs().max().item<float>() < 1e-5);
        Assert.True((y.var(2, unbiased: false) - Scalars.Of(1)).abs().max().item<float>() < 1e-3);
    }

    [Fact]
    public void GroupNorm_RawEngineStillLeavesWeightUninitialised()
    {
        using var scope = NewDisposeScope();
        // Canary for the engine bug that Layers.GroupNorm works around: when this fails, TorchSharp initialises
        // GroupNorm itself and the workaround can go. Several layers are made so that memory that happens to hold
        // ones cannot make the bug look fixed.
        bool anyUninitialised = false;
        for (int i = 0; i < 8 && !anyUninitialised; i++)
        {
            using var raw = nn.GroupNorm(4, 64);
            anyUninitialised = !raw.weight!.eq(Scalars.Of(1)).all().item<bool>() || !raw.bias!.eq(Scalars.Of(0)).all().item<bool>();
        }
        Assert.True(anyUninitialised, "TorchSharp now initialises GroupNorm: remove the workaround in Layers.GroupNorm");
    }

    [Fact]
    public void GroupNorm_ThrowsForChannelsNotDivisibleByGroups()
    {
        var e = Assert.Throws<ArgumentException>(() => Layers.GroupNorm(32, 48));
        Assert.Contains("48 channels", e.Message);
        Assert.Contains("32 groups", e.Message);
    }
}
