using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// Multistep DPM-Solver++ (Lu et al. 2022, "DPM-Solver++", Algorithm 2 "2M"), as diffusers 0.21's
/// <c>DPMSolverMultistepScheduler</c> with algorithm_type "dpmsolver++". In the VP notation alpha_t = sqrt(alpha_bar_t),
/// sigma_t = sqrt(1 - alpha_bar_t), lambda_t = log(alpha_t / sigma_t), each step converts the model output to a data
/// prediction x_0 = D_t and, with h = lambda_{t'} - lambda_s0 (s0 = t, t' the next timestep):
/// first order (DDIM): x_{t'} = (sigma_{t'} / sigma_s0) x - alpha_{t'} (e^{-h} - 1) D0;
/// second order, midpoint: ... - 1/2 alpha_{t'} (e^{-h} - 1) D1 with D1 = (D0 - D_{s1}) / r0, r0 = h_0 / h,
/// h_0 = lambda_s0 - lambda_s1.
/// </summary>
/// <remarks>
/// Defaults for keys the config leaves null: solver_order 2, algorithm_type "dpmsolver++", solver_type "midpoint",
/// lower_order_final true, use_karras_sigmas false, lambda_min_clipped -inf, timestep_spacing "linspace", thresholding
/// false. The first step and (below 15 steps, with lower_order_final) the last are first order. The tables alpha_t,
/// sigma_t, lambda_t are float32 torch tensors indexed by the integer timestep, as in diffusers 0.21. With Karras sigmas,
/// the timesteps are those whose sigma is nearest in log space to sigma_i = (sigma_max^(1/7) + i/(n-1) (sigma_min^(1/7)
/// - sigma_max^(1/7)))^7 (Karras et al. 2022, eq. 5), rounded and deduplicated. Supported: solver_order 1 or 2,
/// "dpmsolver++" (and "deis", which diffusers maps to it), "midpoint" or "heun" (logrho/bh1/bh2 map to midpoint).
/// </remarks>
public sealed class DpmSolverMultistepScheduler : INoiseScheduler, IDisposable
{
    readonly TimestepSpacing spacing;
    readonly int solverOrder;
    readonly DpmSolverType solverType;
    readonly bool lowerOrderFinal;
    readonly bool useKarrasSigmas;
    readonly double lambdaMinClipped;
    readonly float[] alphaT, sigmaT, lambdaT;
    double[] timesteps;
    readonly Tensor?[] modelOutputs;
    int lowerOrderNums;

    /// <summary>Builds the scheduler; the timesteps are T-1 .. 0 until <see cref="SetTimesteps"/>.</summary>
    /// <param name="config">The config; its class name is not checked.</param>
    /// <exception cref="NotSupportedException">An algorithm type, solver order or option this port does not implement.</exception>
    public DpmSolverMultistepScheduler(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        Schedule = new NoiseSchedule(config);
        spacing = config.TimestepSpacing ?? TimestepSpacing.Linspace;
        solverOrder = config.SolverOrder ?? 2;
        if (solverOrder is not (1 or 2))
            throw new NotSupportedException($"solver_order = {solverOrder} is not supported; expected 1 or 2 (2M).");
        DpmSolverAlgorithmType algorithm = config.AlgorithmType ?? DpmSolverAlgorithmType.DpmSolverPlusPlus;
        if (algorithm is not (DpmSolverAlgorithmType.DpmSolverPlusPlus or DpmSolverAlgorithmType.Deis))
            throw new NotSupportedException($"algorithm_type '{algorithm}' is not supported; only 'dpmsolver++' (DPM-Solver++) is implemented.");
        solverType = config.SolverType ?? DpmSolverType.Midpoint;
        if (solverType is DpmSolverType.Logrho or DpmSolverType.Bh1 or DpmSolverType.Bh2) solverType = DpmSolverType.Midpoint;
        lowerOrderFinal = config.LowerOrderFinal ?? true;
        useKarrasSigmas = config.UseKarrasSigmas ?? false;
        lambdaMinClipped = config.LambdaMinClipped ?? double.NegativeInfinity;

        // alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), lambda_t = log alpha_t - log sigma_t (float32 torch ops)
        using (var scope = NewDisposeScope())
        {
            Tensor alphasCumprod = tensor(Schedule.AlphasCumprod);
            Tensor a = alphasCumprod.sqrt();                                           // alpha_t
            Tensor s = alphasCumprod.neg().add(Scalars.Of(1.0), Scalars.One).sqrt();   // sigma_t = sqrt(1 - alpha_bar_t)
            alphaT = a.data<float>().ToArray();
            sigmaT = s.data<float>().ToArray();
            lambdaT = (a.log() - s.log()).data<float>().ToArray();
        }
        timesteps = Enumerable.Range(0, Schedule.NumTrainTimesteps).Reverse().Select(t => (double)t).ToArray();
        modelOutputs = new Tensor?[solverOrder];
    }

    /// <inheritdoc/>
    public SchedulerConfig Config { get; }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }

    /// <inheritdoc/>
    public IReadOnlyList<double> Timesteps => timesteps;

    /// <summary>
    /// diffusers 0.21's <c>sigmas</c> after <see cref="SetTimesteps"/>: sqrt((1 - alpha_bar_t) / alpha_bar_t) for every
    /// training t (ascending in t), or the n Karras sigmas (ascending) with use_karras_sigmas; not used by the step,
    /// which indexes alpha_t, sigma_t and lambda_t by timestep.
    /// </summary>
    public IReadOnlyList<double> Sigmas { get; private set; } = [];

    /// <summary>alpha_t = sqrt(alpha_bar_t) per training step (float32).</summary>
    public IReadOnlyList<float> AlphaT => alphaT;

    /// <summary>sigma_t = sqrt(1 - alpha_bar_t) per training step (float32).</summary>
    public IReadOnlyList<float> SigmaT => sigmaT;

    /// <summary>lambda_t = log alpha_t - log sigma_t, half the log-SNR, per training step (float32).</summary>
    public IReadOnlyList<float> LambdaT => lambdaT;

    /// <inheritdoc/>
    public ScalarType TimestepDtype => ScalarType.Int64;

    /// <inheritdoc/>
    /// <remarks>The requested n, as the pipelines use it; after deduplication (Karras sigmas) <see cref="Timesteps"/> may hold fewer.</remarks>
    public int? NumInferenceSteps { get; private set; }

    /// <inheritdoc/>
    public int Order => 1;

    /// <inheritdoc/>
    public float InitNoiseSigma => 1f;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps)
    {
        int T = Schedule.NumTrainTimesteps;
        SchedulerChecks.InferenceSteps(numInferenceSteps, T);
        int n = numInferenceSteps;

        // Clip the smallest lambda_t (critical for the cosine schedule): the number of t whose lambda_t < lambda_min_clipped.
        int clippedIdx = lambdaT.Count(l => l < lambdaMinClipped);   // searchsorted(flip(lambda_t), lambda_min_clipped), left
        int lastTimestep = T - clippedIdx;

        double[] t = spacing switch
        {
            // round(linspace(0, last - 1, n + 1)) reversed, without the final 0
            TimestepSpacing.Linspace => NumpySpacing.Linspace(0, lastTimestep - 1, n + 1).Select(NumpySpacing.Round).Reverse().Take(n).ToArray(),
            // arange(n + 1) * (last // (n + 1)) reversed, without the final 0, + steps_offset
            TimestepSpacing.Leading => Enumerable.Range(0, n + 1).Reverse().Take(n)
                .Select(i => (double)i * (lastTimestep / (n + 1)) + Config.StepsOffset).ToArray(),
            // round(arange(last, 0, -T/n)) - 1
            TimestepSpacing.Trailing => NumpySpacing.Arange(lastTimestep, 0, -(T / (double)n)).Select(v => NumpySpacing.Round(v) - 1).ToArray(),
            _ => throw new NotSupportedException($"timestep_spacing {spacing} is not supported."),
        };

        // sigmas = ((1 - alpha_bar) / alpha_bar) ** 0.5 in float32 (a float32 numpy array in diffusers)
        float[] trainSigmas = Schedule.AlphasCumprod.Select(a => MathF.Sqrt((1f - a) / a)).ToArray();
        if (useKarrasSigmas)
        {
            double[] karras = KarrasSigmas.From(Array.ConvertAll(trainSigmas, s => (double)s), n);
            float[] logSigmas = trainSigmas.Select(s => MathF.Log(s)).ToArray();
            t = karras.Select(s => NumpySpacing.Round(KarrasSigmas.SigmaToT(s, logSigmas))).Reverse().ToArray();
            Sigmas = karras;
        }
        else
        {
            Sigmas = trainSigmas.Select(s => (double)s).ToArray();
        }

        // Remove duplicates, keeping first occurrences in order (np.unique + sort of the first indices).
        timesteps = t.Distinct().ToArray();
        if (timesteps.Any(v => v < 0 || v >= T))
            throw new InvalidOperationException($"DPM-Solver timesteps [{string.Join(", ", timesteps)}] leave [0, {T}) (steps_offset = {Config.StepsOffset}).");
        NumInferenceSteps = n;
        ResetHistory();
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep) => sample.alias();

    /// <summary>The model output as a data prediction x_0 (diffusers' <c>convert_model_output</c> for "dpmsolver++").</summary>
    Tensor ConvertModelOutput(Tensor modelOutput, long t, Tensor sample)
    {
        using var alpha = alphaT[t].ToScalar();
        using var sigma = sigmaT[t].ToScalar();
        Tensor x0;
        switch (Config.PredictionType)
        {
            case PredictionType.Epsilon:
                if (Config.VarianceType is VarianceType.Learned or VarianceType.LearnedRange)
                    modelOutput = modelOutput[.., ..3];   // diffusers keeps the first 3 channels (pixel-space models)
                x0 = (sample - sigma * modelOutput) / alpha;
                break;
            case PredictionType.Sample:
                x0 = modelOutput;
                break;
            case PredictionType.VPrediction:
                x0 = alpha * sample - sigma * modelOutput;
                break;
            default:
                throw new NotSupportedException($"prediction_type {Config.PredictionType} is not supported.");
        }
        if (Config.Thresholding == true)
            x0 = DynamicThresholding.Apply(x0, Config.DynamicThresholdingRatio ?? 0.995, Config.SampleMaxValue ?? 1.0);
        return x0;
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> was not called.</exception>
    public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        if (NumInferenceSteps is null)
            throw new InvalidOperationException("DPM-Solver: call SetTimesteps before Step (the number of inference steps is not set).");
        if (Config.VarianceType is not (VarianceType.Learned or VarianceType.LearnedRange))
            SchedulerChecks.SameShape(modelOutput, sample);
        long t = SchedulerChecks.IntegerTimestep(timestep, Schedule.NumTrainTimesteps);

        int stepIndex = SchedulerChecks.IndexOf(timesteps, timestep);
        if (stepIndex < 0) stepIndex = timesteps.Length - 1;   // diffusers: a timestep not in the schedule counts as the last
        long prevTimestep = stepIndex == timesteps.Length - 1 ? 0 : (long)timesteps[stepIndex + 1];
        bool lowerOrderFinalNow = stepIndex == timesteps.Length - 1 && lowerOrderFinal && timesteps.Length < 15;

        using var scope = NewDisposeScope();
        Tensor x0 = ConvertModelOutput(modelOutput, t, sample);
        // Shift the history: modelOutputs[^1] is D at t, modelOutputs[^2] at the previous timestep.
        modelOutputs[0]?.Dispose();
        for (int i = 0; i < solverOrder - 1; i++) modelOutputs[i] = modelOutputs[i + 1];
        modelOutputs[^1] = x0.detach().clone().DetachFromDisposeScope();   // owned by the scheduler until replaced or reset

        Tensor prevSample;
        if (solverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinalNow)
            prevSample = FirstOrderUpdate(x0, t, prevTimestep, sample);
        else
            // s1 = timesteps[step_index - 1]; Python's index -1 (a repeated first step) is the last timestep.
            prevSample = SecondOrderUpdate(modelOutputs[^1]!, modelOutputs[^2]!, (long)timesteps[stepIndex == 0 ? ^1 : stepIndex - 1], t, prevTimestep, sample);

        if (lowerOrderNums < solverOrder) lowerOrderNums++;
        return prevSample.MoveToOuterDisposeScope();
    }

    /// <summary>DPM-Solver++(1), i.e. DDIM: x_{t'} = (sigma_{t'} / sigma_s) x - alpha_{t'} (e^{-h} - 1) D0.</summary>
    Tensor FirstOrderUpdate(Tensor d0, long s, long tPrev, Tensor sample)
    {
        float h = lambdaT[tPrev] - lambdaT[s];
        float alphaTPrev = alphaT[tPrev];
        using var ratio = (sigmaT[tPrev] / sigmaT[s]).ToScalar();
        using var d0Scale = (alphaTPrev * (MathF.Exp(-h) - 1f)).ToScalar();   // alpha_{t'} (e^{-h} - 1)
        return ratio * sample - d0Scale * d0;
    }

    /// <summary>Multistep DPM-Solver++(2M) (midpoint or Heun), from D at s1 &lt; s0 = current timestep, to t' (the next).</summary>
    Tensor SecondOrderUpdate(Tensor m0, Tensor m1, long s1, long s0, long tPrev, Tensor sample)
    {
        float lambdaPrev = lambdaT[tPrev], lambdaS0 = lambdaT[s0], lambdaS1 = lambdaT[s1];
        float alphaTPrev = alphaT[tPrev];
        float sigmaTPrev = sigmaT[tPrev], sigmaS0 = sigmaT[s0];
        float h = lambdaPrev - lambdaS0, h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;
        Tensor d0 = m0;
        using var invR0 = (1.0f / r0).ToScalar();
        Tensor d1 = invR0 * (m0 - m1);                     // D1 = (D0 - D_{s1}) / r0
        float expm1 = MathF.Exp(-h) - 1f;                  // e^{-h} - 1, as torch.exp(-h) - 1.0 in float32
        using var ratio = (sigmaTPrev / sigmaS0).ToScalar();
        using var d0Scale = (alphaTPrev * expm1).ToScalar();                      // alpha_{t'} (e^{-h} - 1)
        if (solverType == DpmSolverType.Midpoint)
        {
            using var d1Scale = (0.5f * (alphaTPrev * expm1)).ToScalar();         // 1/2 alpha_{t'} (e^{-h} - 1)
            return ratio * sample - d0Scale * d0 - d1Scale * d1;
        }
        using var d1ScaleHeun = (alphaTPrev * (expm1 / h + 1f)).ToScalar();      // alpha_{t'} ((e^{-h} - 1) / h + 1)
        return (ratio * sample - d0Scale * d0).add(d1ScaleHeun * d1, Scalars.One);
    }

    /// <summary>Frees the stored model outputs (they are also dropped by <see cref="SetTimesteps"/>).</summary>
    public void Dispose() => ResetHistory();

    void ResetHistory()
    {
        for (int i = 0; i < modelOutputs.Length; i++) { modelOutputs[i]?.Dispose(); modelOutputs[i] = null; }
        lowerOrderNums = 0;
    }

    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        Schedule.AddNoise(originalSamples, noise, timesteps);
}
