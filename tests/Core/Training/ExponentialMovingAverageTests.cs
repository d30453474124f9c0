using Latent.Core.Engine;
using Latent.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

public class ExponentialMovingAverageTests
{
    static void Set(Parameter p, float value)
    {
        using var noGrad = no_grad();
        using var v = value.ToScalar();
        p.fill_(v);
    }

    [Fact]
    public void Update_FollowsDiffusersDecay()
    {
        using var scope = NewDisposeScope();
        using var p = new Parameter(full(2, Scalars.Of(1.0)));
        using var ema = new ExponentialMovingAverage([("p", p)], new EmaConfig(Decay: 0.9));
        Set(p, 3f);
        ema.Update();                  // first update: decay 0, the shadow becomes the weights
        Assert.Equal(0.0, ema.CurrentDecay);
        Assert.Equal(3f, ema.StateTensors()["p"].data<float>()[0]);
        Set(p, 5f);
        ema.Update();                  // 0.9·3 + 0.1·5
        Assert.Equal(0.9, ema.CurrentDecay);
        Assert.Equal(3.2, ema.StateTensors()["p"].data<float>()[0], 1e-6);
        Assert.Equal(2, ema.OptimizationStep);
    }

    [Fact]
    public void DecayAt_WarmupAndUpdateAfterStep()
    {
        using var scope = NewDisposeScope();
        using var p = new Parameter(ones(1));
        using var ema = new ExponentialMovingAverage([("p", p)],
            new EmaConfig(Decay: 0.999, UpdateAfterStep: 2, UseWarmup: true, InvGamma: 1.0, Power: 0.75));
        Assert.Equal(0.0, ema.DecayAt(3));                                   // s = 0
        Assert.Equal(1 - Math.Pow(1 + 7.0, -0.75), ema.DecayAt(10), 1e-15);  // s = 7
        Assert.Equal(0.999, ema.DecayAt(10_000_000));                        // capped at Decay
        using var e2 = new ExponentialMovingAverage([("p", p)], new EmaConfig(Decay: 0.99, MinDecay: 0.5, UseWarmup: true));
        Assert.Equal(0.5, e2.DecayAt(2));                                    // 1 - 2^-(2/3) = 0.37 -> MinDecay
    }

    [Fact]
    public void Update_FrozenParameterShadowIsACopy()
    {
        using var scope = NewDisposeScope();
        using var p = new Parameter(ones(2), requires_grad: false);
        using var ema = new ExponentialMovingAverage([("p", p)], new EmaConfig(Decay: 0.9));
        ema.Update();
        Set(p, 7f);
        ema.Update();
        Assert.Equal(7f, ema.StateTensors()["p"].data<float>()[1]);
    }

    [Fact]
    public void SwapIntoModel_UsesAveragesThenRestoresTrainingWeights()
    {
        using var scope = NewDisposeScope();
        using var p = new Parameter(full(3, Scalars.Of(2.0)));
        using var ema = new ExponentialMovingAverage([("p", p)], new EmaConfig(Decay: 0.5));
        Set(p, 4f);
        ema.Update();
        ema.Update();                  // shadow: 0.5·4 + 0.5·4 = 4 after the copy update
        Set(p, 10f);
        using (ema.SwapIntoModel())
            Assert.True(p.eq(Scalars.Of(4.0)).all().item<bool>());
        Assert.True(p.eq(Scalars.Of(10.0)).all().item<bool>());
        ema.CopyToModel();
        Assert.True(p.eq(Scalars.Of(4.0)).all().item<bool>());
    }

    [Fact]
    public void Constructor_InsideDisposeScope_ShadowsSurvive()
    {
        using var scope = NewDisposeScope();
        using var p = new Parameter(ones(2));
        ExponentialMovingAverage ema;
        using (NewDisposeScope()) ema = new ExponentialMovingAverage([("p", p)], new EmaConfig());
        using (ema)
        {
            ema.Update();
            Assert.True(ema.StateTensors()["p"].eq(Scalars.Of(1.0)).all().item<bool>());
        }
    }

    [Fact]
    public void LoadState_ThrowsNamingMissingKey()
    {
        using var scope = NewDisposeScope();
        using var p = new Parameter(ones(2));
        using var ema = new ExponentialMovingAverage([("conv.weight", p)], new EmaConfig());
        var e = Assert.Throws<InvalidDataException>(() => ema.LoadState(new Dictionary<string, Tensor>(), 3));
        Assert.Contains("conv.weight", e.Message);
    }

    [Fact]
    public void Config_ThrowsForDecayAboveOne()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new EmaConfig(Decay: 1.5).Validate());
        Assert.Contains("Decay", e.Message);
    }
}
