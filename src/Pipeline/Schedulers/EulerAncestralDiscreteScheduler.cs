using static TorchSharp.torch;

namespace Latent.Pipeline.Schedulers;

/// <summary>
/// Ancestral Euler sampling in the sigma parameterisation of Karras et al. 2022 (k-diffusion's
/// <c>sample_euler_ancestral</c>), as diffusers 0.21's <c>EulerAncestralDiscreteScheduler</c>. With
/// sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t), the variance-exploding sample is x = x_t / sqrt(alpha_bar_t):
/// x_0 = x - sigma eps; d = (x - x_0) / sigma; x' = x + d (sigma_down - sigma) + sigma_up z, where
/// sigma_up = sqrt(sigma'^2 (sigma^2 - sigma'^2) / sigma^2) and sigma_down = sqrt(sigma'^2 - sigma_up^2).
/// </summary>
/// <remarks>
/// Defaults for keys the config leaves null: timestep_spacing "linspace". The timesteps are float64 (fractional for
/// "linspace"); the sigmas are interpolated linearly in t between the training sigmas (np.interp), with 0 appended, and
/// stored as float32. The model sees x / sqrt(sigma^2 + 1) (<see cref="ScaleModelInput"/>). "sample" prediction is
/// refused, as in diffusers 0.21. <see cref="AddNoise"/> works for timesteps of the current schedule only (x_0 + sigma eps).
/// </remarks>
public sealed class EulerAncestralDiscreteScheduler : INoiseScheduler
{
    readonly TimestepSpacing spacing;
    readonly float[] trainSigmas;
    double[] timesteps;
    float[] sigmas;

    /// <summary>Builds the scheduler; the timesteps are T-1 .. 0 until <see cref="SetTimesteps"/>.</summary>
    /// <param name="config">The config; its class name is not checked.</param>
    /// <exception cref="NotSupportedException">prediction_type "sample", or an option diffusers 0.21's class lacks.</exception>
    public EulerAncestralDiscreteScheduler(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.PredictionType == PredictionType.Sample)
            throw new NotSupportedException("EulerAncestralDiscreteScheduler does not implement prediction_type 'sample' (diffusers 0.21 raises too).");
        Config = config;
        Schedule = new NoiseSchedule(config);
        spacing = config.TimestepSpacing ?? TimestepSpacing.Linspace;
        // sigma_t = ((1 - alpha_bar_t) / alpha_bar_t) ** 0.5, float32 as diffusers
        trainSigmas = Schedule.AlphasCumprod.Select(a => MathF.Sqrt((1f - a) / a)).ToArray();
        timesteps = NumpySpacing.Linspace(0, Schedule.NumTrainTimesteps - 1, Schedule.NumTrainTimesteps).Reverse().ToArray();
        sigmas = [.. trainSigmas.Reverse(), 0f];
    }

    /// <inheritdoc/>
    public SchedulerConfig Config { get; }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }

    /// <inheritdoc/>
    public IReadOnlyList<double> Timesteps => timesteps;

    /// <summary>sigma at each timestep of <see cref="Timesteps"/>, then 0 (float32): one more entry than the timesteps.</summary>
    public IReadOnlyList<float> Sigmas => sigmas;

    /// <inheritdoc/>
    public ScalarType TimestepDtype => ScalarType.Float64;

    /// <inheritdoc/>
    public int? NumInferenceSteps { get; private set; }

    /// <inheritdoc/>
    public int Order => 1;

    /// <summary>max sigma for "linspace"/"trailing" spacing, sqrt(max sigma^2 + 1) for "leading" (diffusers 0.21, float32).</summary>
    public float InitNoiseSigma
    {
        get
        {
            float max = sigmas.Max();
            return spacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing ? max : MathF.Sqrt(max * max + 1f);
        }
    }

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps)
    {
        SchedulerChecks.InferenceSteps(numInferenceSteps, Schedule.NumTrainTimesteps);
        NumInferenceSteps = numInferenceSteps;
        timesteps = NumpySpacing.Timesteps(spacing, Schedule.NumTrainTimesteps, numInferenceSteps, Config.StepsOffset, roundLinspace: false);
        // np.interp(timesteps, arange(T), sigmas) in float64, then [.., 0.0] as float32
        sigmas = [.. timesteps.Select(t => (float)NumpySpacing.Interp(t, trainSigmas)), 0f];
    }

    int IndexOf(double timestep)
    {
        int i = SchedulerChecks.IndexOf(timesteps, timestep);
        if (i < 0)
            throw new ArgumentException($"timestep {timestep} is not one of the scheduler's timesteps ({timesteps[0]} ... {timesteps[^1]}).", nameof(timestep));
        return i;
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        ArgumentNullException.ThrowIfNull(sample);
        float sigma = sigmas[IndexOf(timestep)];
        return sample / MathF.Sqrt(sigma * sigma + 1f);   // x_t = sqrt(alpha_bar) x, and 1 / sqrt(sigma^2 + 1) = sqrt(alpha_bar)
    }

    /// <inheritdoc/>
    public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        SchedulerChecks.SameShape(modelOutput, sample);
        int i = IndexOf(timestep);
        float sigma = sigmas[i];

        using var scope = NewDisposeScope();
        // 1. x_0 from the sigma-scaled prediction
        Tensor x0 = Config.PredictionType switch
        {
            PredictionType.Epsilon => sample - sigma * modelOutput,
            // c_out = -sigma / sqrt(sigma^2 + 1), c_skip = 1 / (sigma^2 + 1)
            PredictionType.VPrediction => modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1f)) + sample / (sigma * sigma + 1f),
            _ => throw new NotSupportedException($"prediction_type {Config.PredictionType} is not supported by Euler ancestral."),
        };

        // 2. ancestral split of the next noise level sigma' into a deterministic part and fresh noise
        float sigmaFrom = sigmas[i], sigmaTo = sigmas[i + 1];
        float sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        float sigmaDown = MathF.Sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);

        // 3. Euler step of the ODE dx/dsigma = (x - x_0) / sigma down to sigma_down
        Tensor derivative = (sample - x0) / sigma;
        float dt = sigmaDown - sigma;
        Tensor prevSample = sample + derivative * dt;

        // 4. + sigma_up z
        Tensor z = randn(modelOutput.shape, dtype: modelOutput.dtype, device: modelOutput.device, generator: generator);
        prevSample = prevSample + z * sigmaUp;
        return prevSample.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// x_0 + sigma_t eps for timesteps of the current schedule (diffusers' Euler <c>add_noise</c>, the img2img start); a
    /// timestep outside the schedule is an error (use <see cref="NoiseSchedule.AddNoise"/> for training).
    /// </summary>
    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        ArgumentNullException.ThrowIfNull(originalSamples);
        ArgumentNullException.ThrowIfNull(timesteps);
        SchedulerChecks.SameShape(noise, originalSamples);
        if (timesteps.dim() > 1)
            throw new ArgumentException($"timesteps has shape [{string.Join(", ", timesteps.shape)}], expected 0-dim or [B].", nameof(timesteps));
        double[] ts;
        using (Tensor d = timesteps.detach().cpu().to(ScalarType.Float64)) ts = d.data<double>().ToArray();
        long batch = originalSamples.shape[0];
        if (timesteps.dim() == 1 && ts.Length != batch)
            throw new ArgumentException($"timesteps has {ts.Length} entries, expected one per sample (B = {batch}).", nameof(timesteps));
        float[] sigma = Enumerable.Range(0, (int)batch).Select(b => sigmas[IndexOf(ts[timesteps.dim() == 0 ? 0 : b])]).ToArray();

        using var scope = NewDisposeScope();
        long[] coefShape = [batch, .. Enumerable.Repeat(1L, originalSamples.shape.Length - 1)];
        Tensor s = tensor(sigma).to(originalSamples.dtype, originalSamples.device).reshape(coefShape);   // [B, 1, 1, 1]
        return (originalSamples + noise * s).MoveToOuterDisposeScope();
    }
}
