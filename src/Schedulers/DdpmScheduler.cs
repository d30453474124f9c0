using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// Ancestral sampling of DDPM (Ho et al. 2020, Algorithm 2), as diffusers 0.21's <c>DDPMScheduler</c>:
/// x_{t-1} = mu~_t(x_t, x_0) + sigma_t z, with the posterior mean of eq. 7 and sigma_t^2 = beta~_t ("fixed_small") or
/// beta_t ("fixed_large").
/// </summary>
/// <remarks>
/// Defaults for keys the config leaves null: variance_type "fixed_small", clip_sample true, clip_sample_range 1,
/// thresholding false (ratio 0.995, max 1), timestep_spacing "leading". Here beta_t, alpha_t and alpha_bar_t are those
/// of the jump from t to the previous inference timestep t' = t - T // n (diffusers' rule, whatever the spacing):
/// alpha_t = alpha_bar_t / alpha_bar_{t'}, beta_t = 1 - alpha_t, alpha_bar_{t'} = 1 when t' &lt; 0.
/// </remarks>
public sealed class DdpmScheduler : INoiseScheduler
{
    readonly TimestepSpacing spacing;
    readonly VarianceType varianceType;
    double[] timesteps;

    /// <summary>Builds the scheduler; the timesteps are T-1 .. 0 until <see cref="SetTimesteps"/>.</summary>
    /// <param name="config">The config; its class name is not checked (a DDIM config gives DDPM sampling with its schedule).</param>
    /// <exception cref="NotSupportedException">variance_type "fixed_large_log" (NaN in diffusers 0.21) or another unsupported option.</exception>
    public DdpmScheduler(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        Schedule = new NoiseSchedule(config, allowSigmoid: true);
        spacing = config.TimestepSpacing ?? TimestepSpacing.Leading;
        varianceType = config.VarianceType ?? VarianceType.FixedSmall;
        if (varianceType == VarianceType.FixedLargeLog)
            throw new NotSupportedException(
                "variance_type 'fixed_large_log' is not supported: diffusers 0.21 uses sqrt(log beta_t) as the standard deviation, which is NaN.");
        timesteps = Enumerable.Range(0, Schedule.NumTrainTimesteps).Reverse().Select(t => (double)t).ToArray();
    }

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

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps)
    {
        SchedulerChecks.InferenceSteps(numInferenceSteps, Schedule.NumTrainTimesteps);
        NumInferenceSteps = numInferenceSteps;
        timesteps = NumpySpacing.Timesteps(spacing, Schedule.NumTrainTimesteps, numInferenceSteps, Config.StepsOffset, roundLinspace: true);
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep) => sample.alias();

    /// <summary>The previous timestep t' = t - T // n (diffusers' <c>previous_timestep</c>; n = T before <see cref="SetTimesteps"/>).</summary>
    /// <param name="timestep">t.</param>
    public long PreviousTimestep(long timestep) =>
        timestep - Schedule.NumTrainTimesteps / (NumInferenceSteps ?? Schedule.NumTrainTimesteps);

    /// <summary>
    /// The posterior q(x_{t'} | x_t, x_0) of eq. 6-7 for the jump t -> t': the coefficients of x_0 and x_t in its mean
    /// mu~ = c0 x_0 + ct x_t, and its variance beta~ (clamped at 1e-20), in float32 as diffusers.
    /// </summary>
    /// <param name="timestep">t in [0, T).</param>
    /// <returns>(c0, ct, beta~, beta_t) where beta_t = 1 - alpha_bar_t / alpha_bar_{t'}.</returns>
    public (float X0Coefficient, float SampleCoefficient, float PosteriorVariance, float Beta) Posterior(long timestep)
    {
        SchedulerChecks.TrainingTimestep(timestep, Schedule.NumTrainTimesteps);
        long prev = PreviousTimestep(timestep);
        float alphaProdT = Schedule.AlphasCumprod[timestep];
        float alphaProdTPrev = prev >= 0 ? Schedule.AlphasCumprod[prev] : 1f;
        float betaProdT = 1f - alphaProdT;
        float betaProdTPrev = 1f - alphaProdTPrev;
        float currentAlphaT = alphaProdT / alphaProdTPrev;
        float currentBetaT = 1f - currentAlphaT;
        // eq. 7: mu~ = sqrt(alpha_bar_{t'}) beta_t / (1 - alpha_bar_t) x_0 + sqrt(alpha_t) (1 - alpha_bar_{t'}) / (1 - alpha_bar_t) x_t
        float x0Coefficient = MathF.Sqrt(alphaProdTPrev) * currentBetaT / betaProdT;
        float sampleCoefficient = MathF.Sqrt(currentAlphaT) * betaProdTPrev / betaProdT;
        // eq. 7: beta~ = (1 - alpha_bar_{t'}) / (1 - alpha_bar_t) beta_t, clamped because diffusers takes its log
        float variance = MathF.Max(betaProdTPrev / betaProdT * currentBetaT, 1e-20f);
        return (x0Coefficient, sampleCoefficient, variance, currentBetaT);
    }

    /// <inheritdoc/>
    public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        bool learned = varianceType is VarianceType.Learned or VarianceType.LearnedRange
            && modelOutput.dim() == sample.dim() && modelOutput.dim() > 1 && modelOutput.shape[1] == 2 * sample.shape[1];
        if (!learned) SchedulerChecks.SameShape(modelOutput, sample);
        if (!learned && varianceType is VarianceType.Learned or VarianceType.LearnedRange)
            throw new ArgumentException(
                $"variance_type {varianceType} needs the predicted variance: modelOutput has {modelOutput.shape[1]} channels, expected 2 x {sample.shape[1]}.",
                nameof(modelOutput));
        long t = SchedulerChecks.IntegerTimestep(timestep, Schedule.NumTrainTimesteps);

        using var scope = NewDisposeScope();
        Tensor? predictedVariance = null;
        if (learned)
        {
            Tensor[] halves = modelOutput.split(sample.shape[1], 1);  // [B, 2C, H, W] -> mean [B, C, H, W], variance [B, C, H, W]
            modelOutput = halves[0];
            predictedVariance = halves[1];
        }

        // 1. alphas and betas of the jump t -> t'
        long prev = PreviousTimestep(t);
        float alphaProdT = Schedule.AlphasCumprod[t];
        float alphaProdTPrev = prev >= 0 ? Schedule.AlphasCumprod[prev] : 1f;
        float betaProdT = 1f - alphaProdT;
        using var sqrtAlphaProdT = MathF.Sqrt(alphaProdT).ToScalar();
        using var sqrtBetaProdT = MathF.Sqrt(betaProdT).ToScalar();

        // 2. predicted x_0 (eq. 15: x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t))
        Tensor x0 = Config.PredictionType switch
        {
            PredictionType.Epsilon => (sample - sqrtBetaProdT * modelOutput) / sqrtAlphaProdT,
            PredictionType.Sample => modelOutput,
            PredictionType.VPrediction => sqrtAlphaProdT * sample - sqrtBetaProdT * modelOutput,
            _ => throw new NotSupportedException($"prediction_type {Config.PredictionType} is not supported."),
        };

        // 3. clip or threshold x_0
        x0 = SchedulerChecks.ClipOrThreshold(x0, Config);

        // 4-5. posterior mean mu~_t(x_t, x_0) (eq. 7)
        var (x0Coefficient, sampleCoefficient, posteriorVariance, betaT) = Posterior(t);
        using var c0 = x0Coefficient.ToScalar();
        using var ct = sampleCoefficient.ToScalar();
        Tensor prevSample = (c0 * x0).add(ct * sample, Scalars.One);

        // 6. add sigma_t z for t > 0 (Algorithm 2, line 4)
        if (t > 0)
        {
            Tensor z = randn(modelOutput.shape, dtype: modelOutput.dtype, device: modelOutput.device, generator: generator);
            Tensor noise = varianceType switch
            {
                VarianceType.FixedSmall => Scaled(MathF.Sqrt(posteriorVariance), z),                     // sigma_t^2 = beta~_t
                VarianceType.FixedSmallLog => Scaled(MathF.Exp(0.5f * MathF.Log(posteriorVariance)), z), // diffusers: exp(log(beta~)/2) used as the std
                VarianceType.FixedLarge => Scaled(MathF.Sqrt(betaT), z),                                 // sigma_t^2 = beta_t
                VarianceType.Learned => predictedVariance!.sqrt() * z,                             // sigma_t^2 predicted directly
                VarianceType.LearnedRange => LearnedRangeStd(predictedVariance!, posteriorVariance, betaT) * z,
                _ => throw new NotSupportedException($"variance_type {varianceType} is not supported."),
            };
            prevSample = prevSample.add(noise, Scalars.One);
        }
        return prevSample.MoveToOuterDisposeScope();
    }

    // sigma z for a sigma computed this step, held across the native multiply (rule LAT0001)
    static Tensor Scaled(float sigma, Tensor z)
    {
        using var s = sigma.ToScalar();
        return s * z;
    }

    /// <summary>Improved DDPM eq. 15: log sigma_t^2 = v log beta_t + (1 - v) log beta~_t with v = (output + 1) / 2; returns sigma_t.</summary>
    static Tensor LearnedRangeStd(Tensor predictedVariance, float posteriorVariance, float beta)
    {
        using var minLog = MathF.Log(posteriorVariance).ToScalar();
        using var maxLog = MathF.Log(beta).ToScalar();
        Tensor frac = predictedVariance.add(Scalars.Of(1), Scalars.One) / Scalars.Of(2);
        Tensor oneMinusFrac = frac.neg().add(Scalars.Of(1), Scalars.One);
        Tensor logVariance = (frac * maxLog).add(oneMinusFrac * minLog, Scalars.One);
        return (Scalars.Of(0.5) * logVariance).exp();
    }

    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        Schedule.AddNoise(originalSamples, noise, timesteps);
}
