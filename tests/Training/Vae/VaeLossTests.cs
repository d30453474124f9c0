using Latent.Training.Vae;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Vae;

namespace Latent.Training.Tests.Vae;

public sealed class VaeLossTests
{
    [Fact]
    public void DiscriminatorHinge_MatchesHandComputedValue()
    {
        using var scope = NewDisposeScope();
        using var real = tensor(new float[] { 2f, 0.5f, -1f, 0f }).view(1, 1, 2, 2);
        using var fake = tensor(new float[] { -2f, 0.5f, 1f, -0.5f }).view(1, 1, 2, 2);
        // real: relu(1 - r) = 0, 0.5, 2, 1 -> mean 0.875; fake: relu(1 + f) = 0, 1.5, 2, 0.5 -> mean 1.0; 0.5 * 1.875
        using var loss = VaeLoss.DiscriminatorHinge(real, fake);
        Assert.Equal(0.9375f, loss.item<float>(), 6);
    }

    [Fact]
    public void AdaptiveWeight_IsRatioOfGradientNormsAtLastLayer()
    {
        using var testScope = NewDisposeScope();
        using var w = new TorchSharp.Modules.Parameter(tensor(new float[] { 1f, 2f }));
        using var scope = NewDisposeScope();
        var rec = w.mul(tensor(new float[] { 3f, 4f })).sum();     // d/dw = (3, 4), norm 5
        var g = w.mul(tensor(new float[] { 0f, 0.5f })).sum();     // d/dw = (0, 0.5), norm 0.5
        Assert.Equal(5.0 / (0.5 + VaeLoss.AdaptiveEpsilon), VaeLoss.AdaptiveWeight(rec, g, w), 4);
    }

    [Fact]
    public void NLayerDiscriminator_HasCompVisKeysAndPatchShape()
    {
        using var scope = NewDisposeScope();
        using var d = new NLayerDiscriminator(3, channels: 8, layers: 3);
        var keys = d.state_dict().Keys.ToList();
        Assert.Contains("main.0.weight", keys);
        Assert.Contains("main.2.weight", keys);
        Assert.Contains("main.3.running_var", keys);
        Assert.Contains("main.11.bias", keys);
        Assert.DoesNotContain("main.2.bias", keys);                 // convs before BatchNorm have no bias
        using var x = rand(2, 3, 64, 64);
        using var logits = d.forward(x);
        Assert.Equal(new long[] { 2, 1, 6, 6 }, logits.shape);
        Assert.Equal(6, NLayerDiscriminator.OutputSize(64, 3));
        Assert.True(logits.isfinite().all().item<bool>());
    }
}
