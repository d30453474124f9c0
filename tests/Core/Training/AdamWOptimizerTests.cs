using Latent.Core.Engine;
using Latent.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

public class AdamWOptimizerTests
{
    const double Lr = 0.1, B1 = 0.9, B2 = 0.999, Eps = 1e-8, Wd = 0.01;

    /// <summary>Two AdamW updates by hand: decoupled decay, moments, bias corrections.</summary>
    static double[] Reference(double[] p0, double[][] grads, double wd)
    {
        var p = (double[])p0.Clone();
        var m = new double[p.Length];
        var v = new double[p.Length];
        for (int t = 1; t <= grads.Length; t++)
        {
            var g = grads[t - 1];
            for (int i = 0; i < p.Length; i++)
            {
                p[i] *= 1 - Lr * wd;
                m[i] = B1 * m[i] + (1 - B1) * g[i];
                v[i] = B2 * v[i] + (1 - B2) * g[i] * g[i];
                double mHat = m[i] / (1 - Math.Pow(B1, t));
                double vHat = v[i] / (1 - Math.Pow(B2, t));
                p[i] -= Lr * mHat / (Math.Sqrt(vHat) + Eps);
            }
        }
        return p;
    }

    static void SetGrad(Parameter p, double[] g)
    {
        // loss = sum(p * g) has gradient g.
        using var scope = NewDisposeScope();
        (p * tensor(g.Select(x => (float)x).ToArray()).reshape(p.shape)).sum().backward();
    }

    [Fact]
    public void Step_MatchesHandComputedAdamW_WithAndWithoutDecay()
    {
        using var scope = NewDisposeScope();
        double[] w0 = [1.0, -2.0, 0.5, 3.0], b0 = [0.25, -0.75];
        using var w = new Parameter(tensor(w0.Select(x => (float)x).ToArray()).reshape(2, 2));
        using var b = new Parameter(tensor(b0.Select(x => (float)x).ToArray()));
        using var opt = new AdamWOptimizer([("w", w), ("b", b)], new AdamWConfig(Lr, B1, B2, Eps, Wd), AdamWOptimizer.DecayMatricesOnly);
        Assert.True(opt.HasWeightDecay("w"));
        Assert.False(opt.HasWeightDecay("b"));
        double[][] gw = [[0.5, 0.25, -1.0, 0.001], [-0.3, 0.2, 2.0, 0.0]];
        double[][] gb = [[1e-3, -4.0], [0.5, 0.5]];
        for (int t = 0; t < 2; t++)
        {
            opt.ZeroGrad();
            SetGrad(w, gw[t]);
            SetGrad(b, gb[t]);
            opt.Step();
        }
        var expectW = Reference(w0, gw, Wd);
        var expectB = Reference(b0, gb, 0.0);
        var gotW = w.detach().data<float>().ToArray();
        var gotB = b.detach().data<float>().ToArray();
        for (int i = 0; i < 4; i++) Assert.Equal(expectW[i], gotW[i], 5e-6);
        for (int i = 0; i < 2; i++) Assert.Equal(expectB[i], gotB[i], 5e-6);
        Assert.Equal(2, opt.StepCounts()["w"]);
    }

    [Fact]
    public void Step_SkipsParameterWithoutGradient_AndKeepsItsStepCount()
    {
        using var scope = NewDisposeScope();
        using var a = new Parameter(ones(3));
        using var c = new Parameter(ones(3));
        using var opt = new AdamWOptimizer([("a", a), ("c", c)], new AdamWConfig(0.1));
        SetGrad(a, [1, 1, 1]);
        opt.Step();
        Assert.Equal(1, opt.StepCounts()["a"]);
        Assert.Equal(0, opt.StepCounts()["c"]);
        Assert.True(c.eq(Scalars.Of(1)).all().item<bool>());
    }

    [Fact]
    public void Constructor_SkipsFrozenParameters()
    {
        using var scope = NewDisposeScope();
        using var a = new Parameter(ones(3));
        using var frozen = new Parameter(ones(3), requires_grad: false);
        using var opt = new AdamWOptimizer([("a", a), ("frozen", frozen)], new AdamWConfig());
        Assert.Equal(["a"], opt.ParameterNames);
    }

    [Fact]
    public void Constructor_InsideDisposeScope_StateSurvivesTheScope()
    {
        using var scope = NewDisposeScope();
        using var a = new Parameter(ones(3));
        AdamWOptimizer opt;
        using (NewDisposeScope()) opt = new AdamWOptimizer([("a", a)], new AdamWConfig(0.1));
        using (opt)
        {
            SetGrad(a, [1, 2, 3]);
            opt.Step();   // would throw on a disposed exp_avg
            Assert.Equal(3, opt.StateTensors()["a.exp_avg"].numel());
        }
    }

    [Fact]
    public void Constructor_ThrowsForDuplicateNames()
    {
        using var scope = NewDisposeScope();
        using var a = new Parameter(ones(3));
        var e = Assert.Throws<ArgumentException>(() => new AdamWOptimizer([("x", a), ("x", a)], new AdamWConfig()));
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void Config_ThrowsForBetaOutOfRange()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new AdamWConfig(Beta2: 1.0).Validate());
        Assert.Contains("Beta2", e.Message);
    }

    [Fact]
    public void LoadState_ThrowsNamingMismatchedKeys()
    {
        using var scope = NewDisposeScope();
        using var a = new Parameter(ones(3));
        using var opt = new AdamWOptimizer([("a", a)], new AdamWConfig());
        using var wrong = zeros(4);
        var tensors = new Dictionary<string, Tensor> { ["a.exp_avg"] = wrong, ["z.exp_avg_sq"] = wrong };
        var e = Assert.Throws<InvalidDataException>(() => opt.LoadState(tensors, new Dictionary<string, long> { ["a"] = 1 }));
        Assert.Contains("a.exp_avg_sq", e.Message);   // missing
        Assert.Contains("z.exp_avg_sq", e.Message);   // unexpected
        Assert.Contains("a.exp_avg (saved", e.Message); // wrong shape
    }
}
