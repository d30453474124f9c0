using Latent.Core.IO;
using Latent.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

/// <summary>
/// <see cref="AdamWOptimizer"/> against PyTorch's own <c>torch.optim.AdamW</c> (make_adamw_reference.py, PyTorch 1.13.1):
/// the same gradients fed for 50 steps with a changing learning rate, a decaying and a non-decaying group, and a
/// parameter that gets no gradient on three steps; every parameter compared after every step.
/// </summary>
public class AdamWReferenceTests
{
    static readonly string[] Names = ["conv.weight", "conv.bias", "fc.weight", "fc.bias"];
    const int Steps = 50;

    [Fact]
    public void Step_MatchesPyTorchAdamW_Over50Steps()
    {
        using var scope = NewDisposeScope();
        var reference = SafeTensors.Load(Path.Combine(TestEnvironment.Fixtures, "adamw", "reference.safetensors"));
        var parameters = Names.Select(n => (name: n, parameter: new Parameter(reference[n + ".init"].clone()))).ToList();
        using var optimizer = new AdamWOptimizer(parameters, new AdamWConfig(LearningRate: 1e-2, WeightDecay: 0.05),
            AdamWOptimizer.DecayMatricesOnly);
        double[] lrs = reference["lr"].data<double>().ToArray();

        double worst = 0;
        for (int t = 0; t < Steps; t++)
        {
            optimizer.LearningRate = lrs[t];
            foreach (var (name, p) in parameters)
                p.grad = reference.TryGetValue($"{name}.grad.{t}", out var g) ? g : null;
            optimizer.Step();
            foreach (var (name, p) in parameters)
                worst = Math.Max(worst, RelativeError(p, reference[$"{name}.after.{t}"]));
        }

        // Float32 rounding: libtorch 2.10 and PyTorch 1.13 vectorise the element-wise ops differently (measured worst
        // 1.2e-7 of the largest value, one float32 ulp).
        Assert.True(worst < 1e-6, $"worst relative difference from PyTorch over {Steps} steps: {worst:G3}");
        var state = optimizer.StateTensors();
        foreach (string name in Names)
        {
            Assert.True(RelativeError(state[name + ".exp_avg"], reference[name + ".exp_avg"]) < 1e-6, name + ".exp_avg");
            Assert.True(RelativeError(state[name + ".exp_avg_sq"], reference[name + ".exp_avg_sq"]) < 1e-6, name + ".exp_avg_sq");
        }
        var counts = optimizer.StepCounts();
        Assert.Equal(Steps, counts["conv.weight"]);
        Assert.Equal(Steps - 3, counts["fc.bias"]);
    }

    // max |a − b| / max(max |b|, 1e-12)
    static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        double diff = (actual.detach() - expected).abs().max().item<float>();
        double scale = expected.abs().max().item<float>();
        return diff / Math.Max(scale, 1e-12);
    }
}
