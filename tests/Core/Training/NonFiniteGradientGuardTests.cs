using Latent.Core.Engine;
using System.Text.Json.Nodes;
using Latent.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

public class NonFiniteGradientGuardTests
{
    sealed class Log(string outDir) : TrainingLog(outDir)
    {
        public override void SaveCharts() { }
    }

    // TinyConvNet's parameters in model order: conv_in.weight, conv_in.bias, norm.weight, norm.bias, conv_out.weight, conv_out.bias.
    static TinyConvNet NetWithGradients(params string[] nonFinite)
    {
        var net = new TinyConvNet();
        using var scope = NewDisposeScope();
        using var nan = float.NaN.ToScalar();
        using var one = 1f.ToScalar();
        // d/dp sum(p * w) = w: ones, or NaN for the named parameters.
        Tensor loss = zeros(1);
        foreach (var (name, p) in net.named_parameters())
            loss = loss.add((p * full_like(p, nonFinite.Contains(name) ? nan : one)).sum(), Scalars.One);
        loss.backward();
        return net;
    }

    static GradientNorm Norm(TinyConvNet net) => GradientClipping.TotalNorm(net.parameters());

    [Fact]
    public void Skip_FiniteNorm_UpdatesAndLogsNothing()
    {
        using var net = NetWithGradients();
        var log = new Log(TestEnvironment.NewTempDir());
        var guard = new NonFiniteGradientGuard();
        Assert.False(guard.Skip(1, 0.5, Norm(net), net.named_parameters(), log));
        Assert.Equal(0, guard.SkippedSteps);
        Assert.Empty(log.Read());
    }

    [Fact]
    public void Skip_NonFiniteNorm_CountsAndLogsTheParametersWithNonFiniteGradients()
    {
        using var net = NetWithGradients("norm.weight", "conv_out.weight");
        var log = new Log(TestEnvironment.NewTempDir());
        var guard = new NonFiniteGradientGuard();
        var norm = Norm(net);
        Assert.False(norm.IsFinite);
        Assert.True(guard.Skip(7, 0.5, norm, net.named_parameters(), log));
        Assert.Equal(1, guard.SkippedSteps);
        Assert.Equal(1, guard.ConsecutiveSkips);
        var entry = Assert.Single(log.Read());
        Assert.Equal(
            """{"step":7,"skipped_step":"gradient norm NaN","skipped_in_a_row":1,"non_finite_grads":2,"first_non_finite":"norm.weight","last_non_finite":"conv_out.weight"}""",
            entry.ToJsonString());
    }

    [Fact]
    public void Skip_NonFiniteLossWithFiniteGradients_SkipsToo()
    {
        // L1's backward takes sign(NaN) = 0: a NaN loss can come with a finite gradient.
        using var net = NetWithGradients();
        var log = new Log(TestEnvironment.NewTempDir());
        var guard = new NonFiniteGradientGuard();
        Assert.True(guard.Skip(3, double.NaN, Norm(net), net.named_parameters(), log));
        var entry = Assert.Single(log.Read());
        Assert.Equal("loss NaN", (string)entry[NonFiniteGradientGuard.LogKey]!);
        Assert.Equal(0, (int)entry["non_finite_grads"]!);
    }

    [Fact]
    public void Skip_MoreThanMaxInARow_ThrowsNamingTheStepAndFirstParameter()
    {
        using var net = NetWithGradients("norm.bias", "conv_out.bias");
        var log = new Log(TestEnvironment.NewTempDir());
        var guard = new NonFiniteGradientGuard();
        var norm = Norm(net);
        for (int step = 1; step <= NonFiniteGradientGuard.MaxConsecutiveSkips; step++)
            Assert.True(guard.Skip(step, 0.5, norm, net.named_parameters(), log));
        var e = Assert.Throws<NonFiniteGradientException>(() => guard.Skip(4, 0.5, norm, net.named_parameters(), log));
        Assert.Equal(4, e.Step);
        Assert.Equal("norm.bias", e.FirstParameter);
        Assert.StartsWith("training stopped at step 4: 4 steps in a row were skipped for a non-finite loss or gradient (at most 3 in a row are; " +
                          "the last: gradient norm NaN); first parameter with a non-finite gradient: norm.bias (2 of 6 parameters, the last in model " +
                          "order conv_out.bias).", e.Message);
        Assert.Equal(4, log.Read().Count(l => l[NonFiniteGradientGuard.LogKey] is not null));
    }

    [Fact]
    public void Skip_FiniteStepInBetween_StartsTheCountAgain()
    {
        using var bad = NetWithGradients("conv_in.weight");
        using var good = NetWithGradients();
        var log = new Log(TestEnvironment.NewTempDir());
        var guard = new NonFiniteGradientGuard();
        long step = 0;
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < NonFiniteGradientGuard.MaxConsecutiveSkips; i++)
                Assert.True(guard.Skip(++step, 0.5, Norm(bad), bad.named_parameters(), log));
            Assert.False(guard.Skip(++step, 0.5, Norm(good), good.named_parameters(), log));
            Assert.Equal(0, guard.ConsecutiveSkips);
        }
        Assert.Equal(2 * NonFiniteGradientGuard.MaxConsecutiveSkips, guard.SkippedSteps);
    }

    [Fact]
    public void Skip_FiniteGradientsWhoseNormOverflows_SaysSo()
    {
        using var net = NetWithGradients();
        var log = new Log(TestEnvironment.NewTempDir());
        var guard = new NonFiniteGradientGuard();
        var overflow = new GradientNorm(double.PositiveInfinity, false);
        for (int step = 1; step <= NonFiniteGradientGuard.MaxConsecutiveSkips; step++)
            guard.Skip(step, 0.5, overflow, net.named_parameters(), log);
        var e = Assert.Throws<NonFiniteGradientException>(() => guard.Skip(4, 0.5, overflow, net.named_parameters(), log));
        Assert.Null(e.FirstParameter);
        Assert.Contains("the last: gradient norm Infinity", e.Message);
        Assert.Contains("every gradient is finite but their norm overflows float32", e.Message);
        Assert.Null(log.Read()[^1]["first_non_finite"]);
    }
}
