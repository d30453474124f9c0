using Latent.Core.Engine;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Engine;

public class BFloat16CheckTests(ITestOutputHelper output)
{
    [Fact]
    public void Engine_ProbesEveryOpKindOfTheUNet()
    {
        BFloat16Report report = BFloat16Check.Engine;
        foreach (BFloat16Deviation op in report.Ops) output.WriteLine($"{(op.Ok ? "ok " : "OFF")} {op}");
        string[] kinds = ["conv2d 3x3", "conv2d 3x3 stride 2", "conv2d 1x1", "linear", "matmul", "softmax", "scaled_dot_product_attention",
            "group_norm", "layer_norm", "gelu", "silu", "resnet block", "attention block"];
        Assert.All(kinds, kind => Assert.Contains(report.Ops, op => op.What.StartsWith(kind, StringComparison.Ordinal)));
        Assert.Equal(report.Ops.All(op => op.Ok), report.Accurate);
        Assert.Same(report, BFloat16Check.Engine); // measured once per process
    }

    [Fact]
    public void Probe_PassesAnOpThatOnlyRoundsItsResult()
    {
        using var scope = NewDisposeScope();
        // An element-wise sum: bf16 rounds each result once (at most 2^-9 relative), far inside the tolerance.
        var add = new BFloat16Check.OpProbe("add [64]", BFloat16Check.OpTolerance,
            g => [randn([64], generator: g), randn([64], generator: g)],
            x => x[0].add(x[1], Scalars.One));
        BFloat16Report report = BFloat16Check.Probe([add]);
        Assert.True(report.Accurate, report.Describe());
        Assert.Empty(report.Failures);
        Assert.InRange(report.Ops[0].Error, 1e-6, 1.0 / 256);
    }

    [Fact]
    public void Probe_FlagsAnOpThatIsWrongInBFloat16()
    {
        using var scope = NewDisposeScope();
        // A kernel that drops part of its sum in bf16 only: the output is 30% off.
        var broken = new BFloat16Check.OpProbe("broken op [2,8]", BFloat16Check.OpTolerance,
            g => [randn([2, 8], generator: g)],
            x =>
            {
                if (x[0].dtype != ScalarType.BFloat16) return x[0].clone();
                using var factor = 0.7.ToScalar();
                return x[0].mul(factor);
            });
        var fine = new BFloat16Check.OpProbe("identity [2,8]", BFloat16Check.OpTolerance, g => [randn([2, 8], generator: g)], x => x[0].clone());
        BFloat16Report report = BFloat16Check.Probe([fine, broken]);
        Assert.False(report.Accurate);
        BFloat16Deviation failure = Assert.Single(report.Failures);
        Assert.Equal("broken op [2,8]", failure.What);
        Assert.Equal(0.3, failure.Error, 2);
        Assert.Equal($"1 of 2 bf16 op probes off: broken op [2,8]: {BFloat16Deviation.Percent(failure.Error, 1)} (tolerance 3%)", report.Describe());
    }

    [Fact]
    public void Probe_FlagsNaNAsWorst()
    {
        using var scope = NewDisposeScope();
        var nan = new BFloat16Check.OpProbe("nan op", BFloat16Check.OpTolerance,
            g => [randn([4], generator: g)],
            x => x[0].dtype == ScalarType.BFloat16 ? x[0].log() : x[0].clone()); // log of negative values: NaN in bf16 only
        var off = new BFloat16Check.OpProbe("off op", BFloat16Check.OpTolerance,
            g => [randn([4], generator: g)],
            x =>
            {
                using var two = 2.0.ToScalar();
                return x[0].dtype == ScalarType.BFloat16 ? x[0].mul(two) : x[0].clone();
            });
        BFloat16Report report = BFloat16Check.Probe([off, nan]);
        Assert.Equal(["nan op", "off op"], report.Failures.Select(f => f.What));
        Assert.True(double.IsNaN(report.Failures[0].Error));
    }

    [Fact]
    public void Probe_CountsAnOpThatFailsInBFloat16AsOff_WithTheEnginesMessage()
    {
        using var scope = NewDisposeScope();
        // cholesky has no bf16 kernel on CPU: the engine throws, and the probe reports that instead of throwing.
        var noKernel = new BFloat16Check.OpProbe("cholesky [3,3]", BFloat16Check.OpTolerance,
            g => [eye(3)],
            x => linalg.cholesky(x[0]));
        BFloat16Report report = BFloat16Check.Probe([noKernel]);
        BFloat16Deviation failure = Assert.Single(report.Failures);
        Assert.StartsWith("cholesky [3,3] (failed in bf16: ", failure.What);
        Assert.Contains("BFloat16", failure.What);
        Assert.True(double.IsNaN(failure.Error));
    }

    [Fact]
    public void Error_IsMaxAbsDifferenceOverMaxAbsReference()
    {
        using var scope = NewDisposeScope();
        using var reference = tensor(new float[] { 1, -2, 4 });
        using var candidate = tensor(new float[] { 1.5f, -2, 3 }).to(ScalarType.BFloat16);
        Assert.Equal(0.25, BFloat16Check.Error(reference, candidate), 6);
        Assert.Equal(0, BFloat16Check.Error(reference, reference));
    }

    [Fact]
    public void Error_ThrowsForMismatchedShapes()
    {
        using var a = zeros(2, 3);
        using var b = zeros(3, 2);
        var e = Assert.Throws<ArgumentException>(() => BFloat16Check.Error(a, b));
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[3, 2]", e.Message);
    }

    [Fact]
    public void EnsureAccurate_PassesWhenEngineAndModelAreWithinTolerance()
    {
        var engine = new BFloat16Report([new("conv2d", 0.002, 0.03)]);
        BFloat16Check.EnsureAccurate(engine, new BFloat16Deviation("U-Net", 0.016, 0.05));
        BFloat16Check.EnsureAccurate(engine, model: null);
    }

    [Fact]
    public void EnsureAccurate_ThrowsNamingTheModelErrorAndTheFloat32Way()
    {
        var engine = new BFloat16Report([new("conv2d", 0.002, 0.03)]);
        var model = new BFloat16Deviation("the U-Net's bf16 output", 0.29, 0.05);
        var e = Assert.Throws<BFloat16InaccurateException>(() => BFloat16Check.EnsureAccurate(engine, model));
        Assert.Contains("bfloat16 refused, it would make wrong images: the U-Net's bf16 output: 29.0% (tolerance 5%).", e.Message);
        Assert.Contains("--dtype fp32", e.Message);
        Assert.Same(model, e.Model);
        Assert.IsAssignableFrom<NotSupportedException>(e);
    }

    [Fact]
    public void EnsureAccurate_ThrowsNamingTheFailingOps_EvenWhenTheModelLooksFine()
    {
        var engine = new BFloat16Report([new("conv2d 3x3 [2,64,16,16] -> 64", 0.23, 0.03), new("gelu", 0.001, 0.03)]);
        var e = Assert.Throws<BFloat16InaccurateException>(() => BFloat16Check.EnsureAccurate(engine, new BFloat16Deviation("U-Net", 0.01, 0.05)));
        Assert.Contains("this engine's bf16 kernels are wrong on this CPU (1 of 2 bf16 op probes off: conv2d 3x3 [2,64,16,16] -> 64: 23.0% (tolerance 3%))", e.Message);
        Assert.DoesNotContain("gelu", e.Message);
        Assert.Same(engine, e.Engine);
    }
}
