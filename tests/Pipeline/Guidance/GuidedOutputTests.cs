using Latent.Core.Engine;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using TorchSharp;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Guidance;

public class GuidedOutputTests
{
    [Fact]
    public void ClassifierFree_GuidesTheMeanHalfAndKeepsTheConditionalVariance()
    {
        using var scope = NewDisposeScope();
        // [uncond; cond] with C = 1: mean 1 and 3, variance 0.1 and 0.5; s = 2 -> mean 1 + 2 (3 - 1) = 5, variance 0.5
        using var output = tensor(new float[] { 1, 0.1f, 3, 0.5f }).reshape(2, 2, 1, 1);
        using var s = 2.0.ToScalar();
        using var guided = GuidedOutput.ClassifierFree(output, s, latentChannels: 1);
        Assert.Equal(new float[] { 5, 0.5f }, guided.data<float>().ToArray());
    }

    [Fact]
    public void ClassifierFree_WithoutAVarianceHalf_IsPlainCfg()
    {
        using var scope = NewDisposeScope();
        using var output = tensor(new float[] { 1, 2, 3, 6 }).reshape(2, 2, 1, 1);
        using var s = 2.0.ToScalar();
        using var guided = GuidedOutput.ClassifierFree(output, s, latentChannels: 2);
        Assert.Equal(new float[] { 5, 10 }, guided.data<float>().ToArray());
    }

    [Fact]
    public void ForScheduler_KeepsTheVarianceOnlyWhereItIsUsed()
    {
        using var scope = NewDisposeScope();
        using var output = zeros(1, 8, 2, 2);
        var ddpmLearned = new DdpmScheduler(Sd(SchedulerConfig.DdpmClassName) with { VarianceType = VarianceType.LearnedRange });
        var ddpmFixed = new DdpmScheduler(Sd(SchedulerConfig.DdpmClassName));
        var ddimEta = new DdimScheduler(Sd(SchedulerConfig.DdimClassName), eta: 0.5);
        var ddim = new DdimScheduler(Sd(SchedulerConfig.DdimClassName));
        var euler = new EulerDiscreteScheduler(Sd(SchedulerConfig.EulerClassName));
        Assert.Equal(8, GuidedOutput.ForScheduler(output, ddpmLearned, 4).shape[1]);
        Assert.Equal(8, GuidedOutput.ForScheduler(output, ddimEta, 4).shape[1]);
        Assert.Equal(4, GuidedOutput.ForScheduler(output, ddpmFixed, 4).shape[1]);
        Assert.Equal(4, GuidedOutput.ForScheduler(output, ddim, 4).shape[1]);
        Assert.Equal(4, GuidedOutput.ForScheduler(output, euler, 4).shape[1]);
        using var plain = zeros(1, 4, 2, 2);
        Assert.Equal(4, GuidedOutput.ForScheduler(plain, ddpmLearned, 4).shape[1]);
    }
}
