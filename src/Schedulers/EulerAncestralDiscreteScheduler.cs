using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// Ancestral Euler sampling in the sigma parameterisation of Karras et al. 2022 (k-diffusion's
/// <c>sample_euler_ancestral</c>), as diffusers 0.21's <c>EulerAncestralDiscreteScheduler</c>. With
/// sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t), the variance-exploding sample is x = x_t / sqrt(alpha_bar_t):
/// x_0 = x - sigma eps; d = (x - x_0) / sigma; x' = x + d (sigma_down - sigma) + sigma_up z, where
/// sigma_up = sqrt(sigma'^2 (sigma^2 - sigma'^2) / sigma^2) and sigma_down = sqrt(sigma'^2 - sigma_up^2).
/// </summary>
/// <remarks>
/// Defaults for keys the config leaves null: timestep_spacing "linspace". The timesteps and sigmas are those of
/// <see cref="EulerDiscreteScheduler"/> without Karras sigmas (float64 timesteps, fractional for "linspace"; float32
/// sigmas with 0 appended). The model sees x / sqrt(sigma^2 + 1) (<see cref="ScaleModelInput"/>). "sample" prediction is
/// refused, as in diffusers 0.21. <see cref="AddNoise"/> works for timesteps of the current schedule only (x_0 + sigma eps).
/// </remarks>
public sealed class EulerAncestralDiscreteScheduler : INoiseScheduler
{
    readonly EulerSigmas table;

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
        table = new EulerSigmas(Schedule, config);
    }

    /// <inheritdoc/>
    public SchedulerConfig Config { get; }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }

    /// <inheritdoc/>
    public IReadOnlyList<double> Timesteps => table.Timesteps;

    /// <summary>sigma at each timestep of <see cref="Timesteps"/>, then 0 (float32): one more entry than the timesteps.</summary>
    public IReadOnlyList<float> Sigmas => table.Sigmas;

    /// <inheritdoc/>
    public ScalarType TimestepDtype => ScalarType.Float64;

    /// <inheritdoc/>
    public int? NumInferenceSteps { get; private set; }

    /// <inheritdoc/>
    public int Order => 1;

    /// <summary>max sigma for "linspace"/"trailing" spacing, sqrt(max sigma^2 + 1) for "leading" (diffusers 0.21, float32).</summary>
    public float InitNoiseSigma => table.InitNoiseSigma;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps)
    {
        SchedulerChecks.InferenceSteps(numInferenceSteps, Schedule.NumTrainTimesteps);
        NumInferenceSteps = numInferenceSteps;
        table.Set(numInferenceSteps, karras: false);
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep) => table.ScaleModelInput(sample, timestep);

    /// <inheritdoc/>
    public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        SchedulerChecks.SameShape(modelOutput, sample);
        int i = table.IndexOf(timestep);
        float[] sigmas = table.Sigmas;
        float sigma = sigmas[i];

        using var scope = NewDisposeScope();
        // 1. x_0 from the sigma-scaled prediction
        // c_out = -sigma / sqrt(sigma^2 + 1), c_skip = 1 / (sigma^2 + 1)
        using var sigmaS = sigma.ToScalar();
        using var cOut = (-sigma / MathF.Sqrt(sigma * sigma + 1f)).ToScalar();
        using var sigmaSquaredPlusOne = (sigma * sigma + 1f).ToScalar();
        Tensor x0 = Config.PredictionType switch
        {
            PredictionType.Epsilon => sample - sigmaS * modelOutput,
            PredictionType.VPrediction => (modelOutput * cOut).add(sample / sigmaSquaredPlusOne, Scalars.One),
            _ => throw new NotSupportedException($"prediction_type {Config.PredictionType} is not supported by Euler ancestral."),
        };

        // 2. ancestral split of the next noise level sigma' into a deterministic part and fresh noise
        float sigmaFrom = sigmas[i], sigmaTo = sigmas[i + 1];
        float sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        float sigmaDown = MathF.Sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);

        // 3. Euler step of the ODE dx/dsigma = (x - x_0) / sigma down to sigma_down
        Tensor derivative = (sample - x0) / sigmaS;
        using var dt = (sigmaDown - sigma).ToScalar();
        Tensor prevSample = sample.add(derivative * dt, Scalars.One);

        // 4. + sigma_up z
        Tensor z = randn(modelOutput.shape, dtype: modelOutput.dtype, device: modelOutput.device, generator: generator);
        using var sigmaUpS = sigmaUp.ToScalar();
        prevSample = prevSample.add(z * sigmaUpS, Scalars.One);
        return prevSample.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// x_0 + sigma_t eps for timesteps of the current schedule (diffusers' Euler <c>add_noise</c>, the img2img start); a
    /// timestep outside the schedule is an error (use <see cref="NoiseSchedule.AddNoise"/> for training).
    /// </summary>
    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) => table.AddNoise(originalSamples, noise, timesteps);
}
