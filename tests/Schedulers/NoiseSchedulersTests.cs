using Latent.Schedulers;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class NoiseSchedulersTests
{
    static INoiseScheduler SdDdim50()
    {
        var s = new DdimScheduler(SchedulerTestData.Sd(SchedulerConfig.DdimClassName) with { StepsOffset = 1 });
        s.SetTimesteps(50);
        return s;
    }

    [Fact]
    public void TimestepsForStrength_SkipsTheFirstSteps()
    {
        // diffusers' get_timesteps: init = int(50 * 0.75) = 37, t_start = 13, timesteps[13:] = 721 ... 1.
        IReadOnlyList<double> t = SdDdim50().TimestepsForStrength(0.75);
        Assert.Equal(37, t.Count);
        Assert.Equal(721, t[0]);
        Assert.Equal(1, t[^1]);
    }

    [Fact]
    public void TimestepsForStrength_FullAndZero()
    {
        INoiseScheduler s = SdDdim50();
        Assert.Equal(s.Timesteps, s.TimestepsForStrength(1));
        Assert.Empty(s.TimestepsForStrength(0));
    }

    [Fact]
    public void TimestepsForStrength_ThenAddNoiseAtTheFirst()
    {
        using var scope = NewDisposeScope();
        INoiseScheduler s = SdDdim50();
        double first = s.TimestepsForStrength(0.5)[0];
        using var x0 = ones(2, 4, 2, 2);
        using var noise = zeros(2, 4, 2, 2);
        using var t = tensor((long)first);
        using var xt = s.AddNoise(x0, noise, t);
        Assert.Equal(MathF.Sqrt(s.Schedule.AlphasCumprod[(int)first]), xt[1, 3, 1, 1].item<float>());
    }

    [Fact]
    public void TimestepsForStrength_ThrowsForStrengthAboveOne()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SdDdim50().TimestepsForStrength(1.5));
        Assert.Contains("1.5", e.Message);
    }

    [Fact]
    public void TimestepsForStrength_ThrowsBeforeSetTimesteps()
    {
        var s = new DdimScheduler(new SchedulerConfig());
        Assert.Throws<InvalidOperationException>(() => s.TimestepsForStrength(0.5));
    }

    [Fact]
    public void TimestepsTensor_HasDiffusersDtype()
    {
        using var scope = NewDisposeScope();
        using var ddim = SdDdim50().TimestepsTensor();
        Assert.Equal(ScalarType.Int64, ddim.dtype);
        Assert.Equal(981L, ddim[0].item<long>());
        var euler = new EulerAncestralDiscreteScheduler(new SchedulerConfig());
        euler.SetTimesteps(30);
        using var e = euler.TimestepsTensor();
        Assert.Equal(ScalarType.Float64, e.dtype);
        Assert.Equal(euler.Timesteps[1], e[1].item<double>());
    }
}
