using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// DDIM sampling (Song et al. 2021, eq. 12 and 16), as diffusers 0.21's <c>DDIMScheduler</c>:
/// x_{t'} = sqrt(alpha_bar_{t'}) x_0 + sqrt(1 - alpha_bar_{t'} - sigma_t^2) eps + sigma_t z, with
/// sigma_t = eta sqrt((1 - alpha_bar_{t'}) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_{t'}).
/// eta = 0 is deterministic; eta = 1 is DDPM's ancestral sampling on the same timesteps.
/// </summary>
/// <remarks>
/// Defaults for keys the config leaves null: clip_sample true, clip_sample_range 1, set_alpha_to_one true, thresholding
/// false (ratio 0.995, max 1), timestep_spacing "leading", rescale_betas_zero_snr false. The previous timestep is
/// t' = t - T // n whatever the spacing (diffusers' rule); when t' &lt; 0, alpha_bar_{t'} is 1 (set_alpha_to_one) or
/// alpha_bar_0 (SD's configs).
/// </remarks>
public sealed class DdimScheduler : INoiseScheduler
{
    readonly TimestepSpacing spacing;
    readonly float finalAlphaCumprod;
    double[] timesteps;

    /// <summary>Builds the scheduler; the timesteps are T-1 .. 0 until <see cref="SetTimesteps"/>.</summary>
    /// <param name="config">The config; its class name is not checked.</param>
    /// <param name="eta">eta &gt;= 0 of eq. 16 (diffusers passes it to <c>step</c>; the pipelines' default is 0).</param>
    /// <param name="useClippedModelOutput">Re-derive eps from the clipped x_0, as GLIDE does (diffusers' <c>use_clipped_model_output</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="eta"/> is negative or not finite.</exception>
    public DdimScheduler(SchedulerConfig config, double eta = 0, bool useClippedModelOutput = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!(eta >= 0) || double.IsInfinity(eta))
            throw new ArgumentOutOfRangeException(nameof(eta), eta, $"eta = {eta}; expected a finite value >= 0.");
        Config = config;
        Eta = eta;
        UseClippedModelOutput = useClippedModelOutput;
        Schedule = new NoiseSchedule(config, allowRescale: true);
        spacing = config.TimestepSpacing ?? TimestepSpacing.Leading;
        finalAlphaCumprod = config.SetAlphaToOne ?? true ? 1f : Schedule.AlphasCumprod[0];
        timesteps = Enumerable.Range(0, Schedule.NumTrainTimesteps).Reverse().Select(t => (double)t).ToArray();
    }

    /// <summary>eta of eq. 16: the weight of the fresh noise (0: deterministic DDIM).</summary>
    public double Eta { get; }

    /// <summary>Whether eps is re-derived from the clipped x_0 before the direction term.</summary>
    public bool UseClippedModelOutput { get; }

    /// <inheritdoc/>
    public SchedulerConfig Config { get; }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }

    /// <inheritdoc/>
    public IReadOnlyList<double> Timesteps => timesteps;

    /// <inheritdoc/>
    public ScalarType TimestepDtype => ScalarType.Int64;

    /// <inheritdoc/>
    public int? NumInferenceSteps { get; private set; }

    /// <inheritdoc/>
    public int Order => 1;

    /// <inheritdoc/>
    public float InitNoiseSigma => 1f;

    /// <summary>alpha_bar before the first training step: 1 (set_alpha_to_one) or alpha_bar_0.</summary>
    public float FinalAlphaCumprod => finalAlphaCumprod;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps)
    {
        SchedulerChecks.InferenceSteps(numInferenceSteps, Schedule.NumTrainTimesteps);
        NumInferenceSteps = numInferenceSteps;
        timesteps = NumpySpacing.Timesteps(spacing, Schedule.NumTrainTimesteps, numInferenceSteps, Config.StepsOffset, roundLinspace: true);
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep) => sample.alias();

    /// <summary>
    /// sigma_t^2 / eta^2 of eq. 16 for the jump t -> t' (diffusers' <c>_get_variance</c>):
    /// (1 - alpha_bar_{t'}) / (1 - alpha_bar_t) (1 - alpha_bar_t / alpha_bar_{t'}), in float32.
    /// </summary>
    /// <param name="timestep">t in [0, T).</param>
    /// <param name="prevTimestep">t' (negative: before the first step).</param>
    public float Variance(long timestep, long prevTimestep)
    {
        SchedulerChecks.TrainingTimestep(timestep, Schedule.NumTrainTimesteps);
        float alphaProdT = Schedule.AlphasCumprod[timestep];
        float alphaProdTPrev = prevTimestep >= 0 ? Schedule.AlphasCumprod[prevTimestep] : finalAlphaCumprod;
        float betaProdT = 1f - alphaProdT;
        float betaProdTPrev = 1f - alphaProdTPrev;
        return betaProdTPrev / betaProdT * (1f - alphaProdT / alphaProdTPrev);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException"><see cref="SetTimesteps"/> was not called (diffusers raises too).</exception>
    public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        if (NumInferenceSteps is not int n)
            throw new InvalidOperationException("DDIM: call SetTimesteps before Step (the number of inference steps is not set).");
        // Issue 25: a [B, 2C, ...] output carries a learned_range variance, used as sigma_t below when eta > 0.
        bool learned = LearnedRange.HasVariance(modelOutput, sample);
        if (!learned) SchedulerChecks.SameShape(modelOutput, sample);
        long t = SchedulerChecks.IntegerTimestep(timestep, Schedule.NumTrainTimesteps);

        using var scope = NewDisposeScope();
        Tensor? learnedVariance = null;
        if (learned) (modelOutput, learnedVariance) = LearnedRange.Split(modelOutput);
        // 1. previous step t' = t - T // n
        long prev = t - Schedule.NumTrainTimesteps / n;

        // 2. alpha_bar_t, alpha_bar_{t'}
        float alphaProdT = Schedule.AlphasCumprod[t];
        float alphaProdTPrev = prev >= 0 ? Schedule.AlphasCumprod[prev] : finalAlphaCumprod;
        float betaProdT = 1f - alphaProdT;
        using var sqrtAlphaProdT = MathF.Sqrt(alphaProdT).ToScalar();
        using var sqrtBetaProdT = MathF.Sqrt(betaProdT).ToScalar();

        // 3. predicted x_0 ("predicted x_0" of eq. 12) and eps
        Tensor x0, eps;
        switch (Config.PredictionType)
        {
            case PredictionType.Epsilon:
                x0 = (sample - sqrtBetaProdT * modelOutput) / sqrtAlphaProdT;
                eps = modelOutput;
                break;
            case PredictionType.Sample:
                x0 = modelOutput;
                eps = (sample - sqrtAlphaProdT * x0) / sqrtBetaProdT;
                break;
            case PredictionType.VPrediction:
                x0 = sqrtAlphaProdT * sample - sqrtBetaProdT * modelOutput;
                eps = (sqrtAlphaProdT * modelOutput).add(sqrtBetaProdT * sample, Scalars.One);
                break;
            default:
                throw new NotSupportedException($"prediction_type {Config.PredictionType} is not supported.");
        }

        // 4. clip or threshold x_0
        x0 = SchedulerChecks.ClipOrThreshold(x0, Config);

        // 5. sigma_t(eta) of eq. 16
        float variance = Variance(t, prev);
        float stdDevT = (float)Eta * MathF.Sqrt(variance);

        if (UseClippedModelOutput)
            eps = (sample - sqrtAlphaProdT * x0) / sqrtBetaProdT;

        // 5b. Issue 25: with a learned variance and eta > 0, sigma_t = eta Sigma_theta^(1/2), Sigma_theta between the jump's
        //     beta~ (= DDIM's eta = 1 variance) and beta (LearnedRange); eta = 0 stays deterministic and ignores it.
        if (learnedVariance is not null && Eta > 0 && variance > 0)
        {
            using var etaS = Eta.ToScalar();
            Tensor sigma = LearnedRange.Std(learnedVariance, variance, 1.0 - alphaProdT / alphaProdTPrev).mul(etaS);
            // sqrt(1 - alpha_bar_{t'} - sigma_t^2), per element, clamped at 0 where a large learned sigma exceeds the budget
            using var budget = (1f - alphaProdTPrev).ToScalar();
            Tensor scale = sigma.pow(Scalars.Of(2)).neg().add(budget, Scalars.One).clamp_min(Scalars.Of(0)).sqrt();
            using var rootAlphaPrev = MathF.Sqrt(alphaProdTPrev).ToScalar();
            Tensor z = randn(modelOutput.shape, dtype: modelOutput.dtype, device: modelOutput.device, generator: generator);
            return (rootAlphaPrev * x0).add(scale * eps, Scalars.One).add(sigma * z, Scalars.One).MoveToOuterDisposeScope();
        }

        // 6. "direction pointing to x_t" of eq. 12
        using var directionScale = MathF.Sqrt(1f - alphaProdTPrev - stdDevT * stdDevT).ToScalar();
        Tensor direction = directionScale * eps;

        // 7. x_{t'} without the random noise, then + sigma_t z
        using var sqrtAlphaProdTPrev = MathF.Sqrt(alphaProdTPrev).ToScalar();
        Tensor prevSample = (sqrtAlphaProdTPrev * x0).add(direction, Scalars.One);
        if (Eta > 0)
        {
            Tensor z = randn(modelOutput.shape, dtype: modelOutput.dtype, device: modelOutput.device, generator: generator);
            using var sigmaT = stdDevT.ToScalar();
            prevSample = prevSample.add(sigmaT * z, Scalars.One);
        }
        return prevSample.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        Schedule.AddNoise(originalSamples, noise, timesteps);
}
