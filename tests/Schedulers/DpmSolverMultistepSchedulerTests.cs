using Latent.Schedulers;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Schedulers.Tests;

public class DpmSolverMultistepSchedulerTests
{
    static DpmSolverMultistepScheduler SdDpm(bool karras = false, TimestepSpacing spacing = TimestepSpacing.Linspace, int offset = 0,
        DpmSolverType solver = DpmSolverType.Midpoint, PredictionType prediction = PredictionType.Epsilon) =>
        new(Sd(SchedulerConfig.DpmSolverMultistepClassName) with
        {
            UseKarrasSigmas = karras, TimestepSpacing = spacing, StepsOffset = offset, SolverType = solver, PredictionType = prediction,
        });

    /// <summary>Runs every timestep (or the first <paramref name="steps"/>) with model output m (1 + slope k) at step k.</summary>
    static float[] Run(DpmSolverMultistepScheduler s, float slope, int? steps = null) =>
        RunSchedule(s, k => 1 + slope * k, steps: steps);   // the factor in float32, as the references were made

    [Fact]
    public void Timesteps_30_MatchDiffusers()
    {
        var s = SdDpm();
        s.SetTimesteps(30);
        Assert.Equal([999, 966, 932, 899, 866, 832, 799, 766, 733, 699, 666, 633, 599, 566, 533, 499, 466, 433, 400, 366,
            333, 300, 266, 233, 200, 166, 133, 100, 67, 33], s.Timesteps);
        var trailing = SdDpm(spacing: TimestepSpacing.Trailing);
        trailing.SetTimesteps(30);
        Assert.Equal([999, 966, 932, 899, 866, 832, 799, 766, 732, 699, 666, 632, 599, 566, 532, 499, 466, 432, 399, 366,
            332, 299, 266, 232, 199, 166, 132, 99, 66, 32], trailing.Timesteps);
    }

    [Fact]
    public void Lambda_IsHalfLogSnr()
    {
        var s = SdDpm();
        AssertRelClose([3.5346992f, 3.1865423f, -0.48136353f, -2.682024f], new[] { 0, 1, 500, 999 }.Select(i => s.LambdaT[i]).ToArray(), 4e-7);
        double ab = s.Schedule.AlphasCumprod[500];
        Assert.Equal(0.5 * Math.Log(ab / (1 - ab)), s.LambdaT[500], 1e-5);
    }

    [Fact]
    public void ThreeSteps_MatchDiffusers()
    {
        var s = SdDpm();
        s.SetTimesteps(30);
        float[][] expected =
        [
            [-0.84754777f, -0.6235417f, -0.39953566f, -0.17552961f, 0.04847645f, 0.27248248f, 0.49648857f, 0.72049457f],
            [-0.78325325f, -0.6018373f, -0.4204212f, -0.23900518f, -0.05758914f, 0.12382686f, 0.30524293f, 0.48665887f],
            [-0.69203925f, -0.5651699f, -0.4383004f, -0.31143096f, -0.18456152f, -0.057692155f, 0.069177315f, 0.19604662f],
        ];
        for (int k = 1; k <= 3; k++)
        {
            s.SetTimesteps(30);
            AssertClose(expected[k - 1], Run(s, 0.1f, steps: k));
        }
    }

    [Fact]
    public void FirstStep_IsDdimByHand()
    {
        using var scope = NewDisposeScope();
        // DPM-Solver++(1) = DDIM (eta 0): x' = sigma' / sigma x - alpha' (e^{-h} - 1) x_0, x_0 = (x - sigma eps) / alpha.
        var s = SdDpm();
        s.SetTimesteps(30);
        float[] xs = Values(Sample()), ms = Values(ModelOutput()), got = Run(s, 0, steps: 1);
        double a = s.AlphaT[999], sg = s.SigmaT[999], a1 = s.AlphaT[966], s1 = s.SigmaT[966];
        double h = Math.Log(a1 / s1) - Math.Log(a / sg);
        for (int i = 0; i < 8; i++)
        {
            double x0 = (xs[i] - sg * ms[i]) / a;
            Assert.Equal(s1 / sg * xs[i] - a1 * (Math.Exp(-h) - 1) * x0, got[i], 1e-5);
        }
    }

    [Fact]
    public void KarrasTimesteps_30_MatchDiffusers()
    {
        var s = SdDpm(karras: true);
        s.SetTimesteps(30);
        Assert.Equal([999, 975, 949, 923, 894, 863, 830, 795, 757, 716, 672, 624, 572, 517, 458, 397, 334, 273, 214, 162,
            117, 80, 53, 33, 20, 11, 6, 3, 1, 0], s.Timesteps);
        double[] sig = s.Sigmas.ToArray();
        double[] expected = [0.029167532920837392, 0.04085816542400759, 1.151262262586411, 12.660606551577235, 14.614645004272463];
        int[] at = [0, 1, 14, 28, 29];
        for (int i = 0; i < at.Length; i++)
            Assert.Equal(expected[i], sig[at[i]], 4e-7 * expected[i]);   // float32 table rounding (see SchedulerTestData)
    }

    [Fact]
    public void Karras10_FullRunWithLowerOrderFinal_MatchesDiffusers()
    {
        var s = SdDpm(karras: true);
        s.SetTimesteps(10);
        Assert.Equal([999, 916, 815, 687, 523, 327, 146, 41, 7, 0], s.Timesteps);
        AssertClose([0.39492807f, -0.8310869f, -2.0571012f, -3.283116f, -4.509131f, -5.735144f, -6.961158f, -8.187172f], Run(s, -0.05f));
    }

    [Fact]
    public void HeunVPredictionLeading_FullRun_MatchesDiffusers()
    {
        var s = SdDpm(spacing: TimestepSpacing.Leading, offset: 1, solver: DpmSolverType.Heun, prediction: PredictionType.VPrediction);
        s.SetTimesteps(8);
        Assert.Equal([889, 778, 667, 556, 445, 334, 223, 112], s.Timesteps);
        AssertClose([0.19614165f, 0.053333595f, -0.089474455f, -0.23228255f, -0.3750906f, -0.5178987f, -0.6607069f, -0.8035149f], Run(s, -0.05f));
    }

    [Fact]
    public void SetTimesteps_ResetsTheHistory()
    {
        var s = SdDpm();
        s.SetTimesteps(30);
        float[] first = Run(s, 0.1f, steps: 2);
        s.SetTimesteps(30);
        AssertClose(first, Run(s, 0.1f, steps: 2), 0);
    }

    [Fact]
    public void Step_ThrowsBeforeSetTimesteps()
    {
        var s = SdDpm();
        using var x = zeros(1, 1, 1, 1);
        var e = Assert.Throws<InvalidOperationException>(() => s.Step(x, 999, x));
        Assert.Contains("SetTimesteps", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForThirdOrder()
    {
        var e = Assert.Throws<NotSupportedException>(() => new DpmSolverMultistepScheduler(new SchedulerConfig { SolverOrder = 3 }));
        Assert.Contains("3", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForSdeAlgorithm()
    {
        var e = Assert.Throws<NotSupportedException>(() =>
            new DpmSolverMultistepScheduler(new SchedulerConfig { AlgorithmType = DpmSolverAlgorithmType.SdeDpmSolverPlusPlus }));
        Assert.Contains("dpmsolver++", e.Message);
    }
}
