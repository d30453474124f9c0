using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// Pseudo numerical methods for diffusion models (Liu et al. 2022, "PNDM"), as diffusers 0.21's <c>PNDMScheduler</c>:
/// the Stable Diffusion 1.x folders' own scheduler. Every step is the transfer of eq. 9,
/// x_{t'} = sqrt(alpha_bar_{t'} / alpha_bar_t) x_t - (alpha_bar_{t'} - alpha_bar_t) e / (alpha_bar_t sqrt(1 - alpha_bar_{t'})
/// + sqrt(alpha_bar_t (1 - alpha_bar_t) alpha_bar_{t'})), with e a combination of model outputs: linear multistep
/// (Adams-Bashforth, orders 1 to 4: e, (3 e_0 - e_1) / 2, (23 e_0 - 16 e_1 + 5 e_2) / 12,
/// (55 e_0 - 59 e_1 + 37 e_2 - 9 e_3) / 24) once enough outputs are known.
/// </summary>
/// <remarks>
/// <para>skip_prk_steps true (SD's configs; PLMS): the second timestep is repeated, and its step redoes the first jump
/// with the mean of the two outputs (a Heun step), so n &gt;= 2 steps cost n + 1 model calls. skip_prk_steps false
/// (F-PNDM, the class's default): the first three jumps are Runge-Kutta steps of four calls each, at half-step
/// timesteps, then linear multistep: n + 9 calls, n &gt;= 4 (diffusers fails below 4 too).</para>
/// <para>Defaults for keys the config leaves null: skip_prk_steps false, set_alpha_to_one false, timestep_spacing
/// "leading". The jump is t' = t - T // n whatever the spacing (diffusers' rule). "sample" prediction is refused, as in
/// diffusers 0.21. The scheduler keeps the last four outputs between steps: one instance per sampling loop.</para>
/// </remarks>
public sealed class PndmScheduler : INoiseScheduler, IDisposable
{
    const int RungeKuttaSteps = 3;   // F-PNDM's Runge-Kutta jumps before linear multistep (diffusers' pndm_order 4, minus 1)
    readonly TimestepSpacing spacing;
    readonly float finalAlphaCumprod;
    double[] timesteps;
    int rungeKuttaCount;             // how many of the timesteps are Runge-Kutta stages (0 with skip_prk_steps)
    readonly List<Tensor> outputs = [];   // e_k of the linear multistep, oldest first; owned here
    Tensor? rungeKuttaSum;           // the weighted sum of the current Runge-Kutta step's outputs
    Tensor? startSample;             // x_t at the start of the current Runge-Kutta step, or of PLMS's first jump
    int counter;

    /// <summary>Builds the scheduler; the timesteps are T-1 .. 0 until <see cref="SetTimesteps"/>.</summary>
    /// <param name="config">The config; its class name is not checked.</param>
    /// <exception cref="NotSupportedException">prediction_type "sample" (diffusers 0.21 raises too).</exception>
    public PndmScheduler(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.PredictionType == PredictionType.Sample)
            throw new NotSupportedException("PNDMScheduler implements prediction_type 'epsilon' and 'v_prediction', not 'sample' (diffusers 0.21 raises too).");
        Config = config;
        Schedule = new NoiseSchedule(config);
        SkipPrkSteps = config.SkipPrkSteps ?? false;
        spacing = config.TimestepSpacing ?? TimestepSpacing.Leading;
        finalAlphaCumprod = config.SetAlphaToOne ?? false ? 1f : Schedule.AlphasCumprod[0];
        timesteps = Enumerable.Range(0, Schedule.NumTrainTimesteps).Reverse().Select(t => (double)t).ToArray();
    }

    /// <summary>Whether the Runge-Kutta warm-up is skipped (PLMS), as SD's configs ask.</summary>
    public bool SkipPrkSteps { get; }

    /// <inheritdoc/>
    public SchedulerConfig Config { get; }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }

    /// <summary>The model calls in order, first to last: n + 1 with skip_prk_steps (the second repeated; 1 for n = 1), else n + 9.</summary>
    public IReadOnlyList<double> Timesteps => timesteps;

    /// <inheritdoc/>
    public ScalarType TimestepDtype => ScalarType.Int64;

    /// <inheritdoc/>
    public int? NumInferenceSteps { get; private set; }

    /// <inheritdoc/>
    public int Order => 1;

    /// <inheritdoc/>
    public float InitNoiseSigma => 1f;

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException">n is outside [1, T], or below 4 for F-PNDM (its Runge-Kutta warm-up makes three jumps and multistep the last).</exception>
    public void SetTimesteps(int numInferenceSteps)
    {
        SchedulerChecks.InferenceSteps(numInferenceSteps, Schedule.NumTrainTimesteps);
        if (!SkipPrkSteps && numInferenceSteps < RungeKuttaSteps + 1)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps,
                $"PNDM without skip_prk_steps needs at least {RungeKuttaSteps + 1} steps (three Runge-Kutta jumps, then multistep); got {numInferenceSteps}. Use more steps, or skip_prk_steps (PLMS).");
        int n = numInferenceSteps;
        // The n jump targets, ascending: DDIM's timesteps for the spacing.
        double[] up = NumpySpacing.Timesteps(spacing, Schedule.NumTrainTimesteps, n, Config.StepsOffset, roundLinspace: true).Reverse().ToArray();
        double[] rungeKutta, multistep;
        if (SkipPrkSteps)
        {
            // up[:-1] + up[-2:-1] + up[-1:], reversed: the second timestep twice
            rungeKutta = [];
            multistep = [.. up[..^1], .. up[Math.Max(up.Length - 2, 0)..^1], up[^1]];
            Array.Reverse(multistep);
        }
        else
        {
            // The last four targets each with its half step, [a, a+h, b, b+h, ...]; without the last half step,
            // every stage twice, the first and last dropped, reversed: [d, c+h, c+h, c, c, b+h, b+h, b, b, a+h, a+h, a].
            long half = Schedule.NumTrainTimesteps / n / 2;
            double[] pairs = up[^4..].SelectMany(v => new[] { v, v + half }).ToArray();
            double[] twice = pairs[..^1].SelectMany(v => new[] { v, v }).ToArray();
            rungeKutta = twice[1..^1];
            Array.Reverse(rungeKutta);
            multistep = up[..^RungeKuttaSteps];
            Array.Reverse(multistep);
        }
        timesteps = [.. rungeKutta, .. multistep];
        rungeKuttaCount = rungeKutta.Length;
        NumInferenceSteps = n;
        ResetHistory();
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep) => sample.alias();

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> was not called (diffusers raises too).</exception>
    public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        if (NumInferenceSteps is not int n)
            throw new InvalidOperationException("PNDM: call SetTimesteps before Step (the number of inference steps is not set).");
        SchedulerChecks.SameShape(modelOutput, sample);
        long t = SchedulerChecks.IntegerTimestep(timestep, Schedule.NumTrainTimesteps);
        Tensor prev = counter < rungeKuttaCount   // 0 with skip_prk_steps
            ? RungeKuttaStep(modelOutput, t, sample, n)
            : MultistepStep(modelOutput, t, sample, n);
        counter++;
        return prev;
    }

    /// <summary>One stage of F-PNDM's Runge-Kutta step (diffusers' <c>step_prk</c>): stages 0 and 1 go half a step,
    /// stages 2 and 3 a whole one, all from the step's starting sample; the fourth uses e_0/6 + e_1/3 + e_2/3 + e_3/6.</summary>
    Tensor RungeKuttaStep(Tensor modelOutput, long t, Tensor sample, int n)
    {
        using var scope = NewDisposeScope();
        long prevT = t - (counter % 2 == 1 ? 0 : Schedule.NumTrainTimesteps / n / 2);
        long from = (long)timesteps[counter / 4 * 4];
        Tensor e = modelOutput;
        switch (counter % 4)
        {
            case 0:
                Accumulate(modelOutput * Scalars.Of(1.0 / 6));
                outputs.Add(Keep(modelOutput));
                Replace(ref startSample, Keep(sample));
                break;
            case 1:
            case 2:
                Accumulate(modelOutput * Scalars.Of(1.0 / 3));
                break;
            default:
                e = rungeKuttaSum!.add(modelOutput * Scalars.Of(1.0 / 6), Scalars.One);
                Replace(ref rungeKuttaSum, null);
                break;
        }
        return Transfer(startSample ?? sample, from, prevT, e).MoveToOuterDisposeScope();
    }

    /// <summary>One linear multistep step (diffusers' <c>step_plms</c>), with PLMS's Heun start when skipping Runge-Kutta.</summary>
    Tensor MultistepStep(Tensor modelOutput, long t, Tensor sample, int n)
    {
        using var scope = NewDisposeScope();
        long ratio = Schedule.NumTrainTimesteps / n;
        long prevT = t - ratio;
        if (counter != 1)
        {
            while (outputs.Count > 3) { outputs[0].Dispose(); outputs.RemoveAt(0); }
            outputs.Add(Keep(modelOutput));
        }
        else
        {
            // PLMS's repeated timestep: redo the first jump, t + ratio -> t, from the first sample
            prevT = t;
            t += ratio;
        }
        SchedulerChecks.TrainingTimestep(t, Schedule.NumTrainTimesteps);

        Tensor from = sample, e;
        int k = outputs.Count;
        if (k == 1 && counter == 0)
        {
            e = modelOutput;
            Replace(ref startSample, Keep(sample));
        }
        else if (k == 1 && counter == 1)
        {
            e = modelOutput.add(outputs[^1], Scalars.One) / Scalars.Of(2);
            from = startSample!;
        }
        else if (k == 2)   // (3 e_{-1} - e_{-2}) / 2
            e = (Scalars.Of(3) * outputs[^1] - outputs[^2]) / Scalars.Of(2);
        else if (k == 3)   // (23 e_{-1} - 16 e_{-2} + 5 e_{-3}) / 12
            e = (Scalars.Of(23) * outputs[^1] - Scalars.Of(16) * outputs[^2])
                .add(Scalars.Of(5) * outputs[^3], Scalars.One) / Scalars.Of(12);
        else               // (1/24) (55 e_{-1} - 59 e_{-2} + 37 e_{-3} - 9 e_{-4})
            e = Scalars.Of(1.0 / 24) * ((Scalars.Of(55) * outputs[^1] - Scalars.Of(59) * outputs[^2])
                .add(Scalars.Of(37) * outputs[^3], Scalars.One) - Scalars.Of(9) * outputs[^4]);

        Tensor prev = Transfer(from, t, prevT, e).MoveToOuterDisposeScope();
        if (k == 1 && counter == 1) Replace(ref startSample, null);
        return prev;
    }

    /// <summary>Eq. 9 from t to t' with the combined output e (diffusers' <c>_get_prev_sample</c>), in float32 as diffusers.</summary>
    Tensor Transfer(Tensor sample, long t, long prevT, Tensor e)
    {
        float alphaProdT = Schedule.AlphasCumprod[t];
        float alphaProdTPrev = prevT >= 0 ? Schedule.AlphasCumprod[prevT] : finalAlphaCumprod;
        float betaProdT = 1f - alphaProdT;
        float betaProdTPrev = 1f - alphaProdTPrev;
        if (Config.PredictionType == PredictionType.VPrediction)
        {
            using var sqrtAlphaProdT = MathF.Sqrt(alphaProdT).ToScalar();
            using var sqrtBetaProdT = MathF.Sqrt(betaProdT).ToScalar();
            e = (sqrtAlphaProdT * e).add(sqrtBetaProdT * sample, Scalars.One);   // v -> eps
        }

        using var sampleCoeff = MathF.Sqrt(alphaProdTPrev / alphaProdT).ToScalar();
        using var alphaProdDelta = (alphaProdTPrev - alphaProdT).ToScalar();
        using var denominator = (alphaProdT * MathF.Sqrt(betaProdTPrev) + MathF.Sqrt(alphaProdT * betaProdT * alphaProdTPrev)).ToScalar();
        return sampleCoeff * sample - alphaProdDelta * e / denominator;
    }

    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        Schedule.AddNoise(originalSamples, noise, timesteps);

    /// <summary>Frees the kept model outputs and samples.</summary>
    public void Dispose() => ResetHistory();

    void Accumulate(Tensor weighted) =>
        Replace(ref rungeKuttaSum, Keep(rungeKuttaSum is null ? weighted : rungeKuttaSum.add(weighted, Scalars.One)));

    // A copy owned by the scheduler (outside every dispose scope) until replaced or reset.
    static Tensor Keep(Tensor t) => t.detach().clone().DetachFromDisposeScope();

    static void Replace(ref Tensor? slot, Tensor? value)
    {
        slot?.Dispose();
        slot = value;
    }

    void ResetHistory()
    {
        foreach (Tensor e in outputs) e.Dispose();
        outputs.Clear();
        Replace(ref rungeKuttaSum, null);
        Replace(ref startSample, null);
        counter = 0;
    }
}
