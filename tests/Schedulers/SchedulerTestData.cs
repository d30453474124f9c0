using Latent.Core.Engine;
using Latent.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

/// <summary>
/// Fixed inputs and comparison helpers for the scheduler tests. The reference literals in these tests were printed by
/// make_scheduler_reference.py (next to these tests): a line-by-line transcription of diffusers 0.21.4's schedulers run on
/// Debian's python3-torch 1.13.1 and numpy 1.24.2 (diffusers itself cannot be installed here); float32 values are
/// numpy's shortest repr.
/// </summary>
internal static class SchedulerTestData
{
    /// <summary>SD 1.x's scheduler: scaled_linear 0.00085 .. 0.012, 1000 steps, epsilon, clip_sample false.</summary>
    public static SchedulerConfig Sd(string className) => SchedulerConfig.ForClass(className) with
    {
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = BetaSchedule.ScaledLinear,
        ClipSample = SchedulerConfig.ForClass(className).ClipSample is null ? null : false,
        SetAlphaToOne = SchedulerConfig.ForClass(className).SetAlphaToOne is null ? null : false,
    };

    /// <summary>x_t = (arange(8) - 3.5) / 4 as [1, 2, 2, 2] (exact in float32).</summary>
    public static Tensor Sample()
    {
        using var scope = NewDisposeScope();
        return ((TestTensors.Arange(8, dtype: ScalarType.Float32) - Scalars.Of(3.5)) / Scalars.Of(4)).reshape(1, 2, 2, 2).MoveToOuterDisposeScope();
    }

    /// <summary>The model output arange(8) * 0.37 - 1 as [1, 2, 2, 2].</summary>
    public static Tensor ModelOutput()
    {
        using var scope = NewDisposeScope();
        return (TestTensors.Arange(8, dtype: ScalarType.Float32) * Scalars.Of(0.37) - Scalars.Of(1)).reshape(1, 2, 2, 2).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs the scheduler's timesteps in order (the first <paramref name="steps"/>, or all) from
    /// <paramref name="startScale"/> times <see cref="Sample"/>, with model output <see cref="ModelOutput"/> times
    /// factor(k) at step k (the reference script's loops); returns the final sample.
    /// </summary>
    public static float[] RunSchedule(INoiseScheduler s, Func<int, double> factor, float startScale = 1, int? steps = null)
    {
        using var m = ModelOutput();
        using var start = Sample();
        using var scale = startScale.ToScalar();
        Tensor x = start * scale;
        for (int k = 0; k < (steps ?? s.Timesteps.Count); k++)
        {
            using var factorK = factor(k).ToScalar();
            using Tensor mk = m * factorK;
            Tensor next = s.Step(mk, s.Timesteps[k], x);
            x.Dispose();
            x = next;
        }
        float[] result = Values(x);
        x.Dispose();
        return result;
    }

    /// <summary>The values of <paramref name="t"/> as float[] (row-major).</summary>
    public static float[] Values(Tensor t)
    {
        using var scope = NewDisposeScope();
        using Tensor c = t.detach().cpu().to(ScalarType.Float32).contiguous();
        return c.data<float>().ToArray();
    }

    /// <summary>
    /// Asserts that <paramref name="actual"/> equals the reference to float32 rounding: |a - e| &lt;= tol (1 + |e|), with
    /// tol = 1e-6 by default (a few float32 ulps).
    /// </summary>
    /// <remarks>
    /// Why not bit-exact: the references come from PyTorch 1.13.1, whose vectorised <c>torch.linspace</c> rounds 209 of the
    /// 1000 linear betas (233 scaled_linear) one ulp away from libtorch 2.10's (which computes every element as
    /// fma(step, i, start), like its scalar path); after <c>cumprod</c>, alphas_cumprod differ by at most 3 ulps
    /// (2.4e-7 relative). Measured on the step references: DDPM, DDIM and Euler ancestral bit-identical, DPM-Solver++ at
    /// most 8.3e-7 (1e-7 relative) after a 10-step Karras run.
    /// </remarks>
    public static void AssertClose(float[] expected, float[] actual, double tol = 1e-6)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)actual[i] - expected[i]);
            Assert.True(err <= tol * (1 + Math.Abs(expected[i])),
                $"element {i}: expected {expected[i]:R}, got {actual[i]:R} (|diff| = {err:E3}, tolerance {tol * (1 + Math.Abs(expected[i])):E3}).");
        }
    }

    /// <summary>Asserts |a - e| &lt;= rel |e| elementwise (for tables whose values span many orders of magnitude).</summary>
    public static void AssertRelClose(float[] expected, float[] actual, double rel)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)actual[i] - expected[i]);
            Assert.True(err <= rel * Math.Abs(expected[i]),
                $"element {i}: expected {expected[i]:R}, got {actual[i]:R} (relative diff {err / Math.Abs(expected[i]):E3}, tolerance {rel:E1}).");
        }
    }

    /// <summary>Asserts that the values of <paramref name="actual"/> equal the reference to float32 rounding.</summary>
    public static void AssertClose(float[] expected, Tensor actual, double tol = 1e-6) => AssertClose(expected, Values(actual), tol);
}
