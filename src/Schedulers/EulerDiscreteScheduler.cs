using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// Euler's method on the probability-flow ODE in the sigma parameterisation of Karras et al. 2022 (Algorithm 2 without
/// churn; k-diffusion's <c>sample_euler</c>), as diffusers 0.21's <c>EulerDiscreteScheduler</c>. With
/// sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) and x = x_t / sqrt(alpha_bar_t): x_0 = x - sigma eps;
/// d = (x - x_0) / sigma; x' = x + d (sigma' - sigma). Deterministic.
/// </summary>
/// <remarks>
/// Defaults for keys the config leaves null: timestep_spacing "linspace", interpolation_type "linear",
/// use_karras_sigmas false. Timesteps and sigmas as <see cref="EulerAncestralDiscreteScheduler"/>'s; with
/// use_karras_sigmas the n sigmas are Karras et al.'s eq. 5 levels between the same ends and the timesteps their
/// fractional t. The model sees x / sqrt(sigma^2 + 1). diffusers' <c>step</c> also takes s_churn, s_tmin, s_tmax and
/// s_noise, which its pipelines never pass; without churn it draws a noise tensor every step and discards it, so this
/// port draws none and ignores the generator (the images are the same). interpolation_type "log_linear" is not
/// implemented.
/// </remarks>
public sealed class EulerDiscreteScheduler : INoiseScheduler
{
    readonly EulerSigmas table;
    readonly bool useKarrasSigmas;

    /// <summary>Builds the scheduler; the timesteps are T-1 .. 0 until <see cref="SetTimesteps"/>.</summary>
    /// <param name="config">The config; its class name is not checked.</param>
    /// <exception cref="NotSupportedException">interpolation_type "log_linear".</exception>
    public EulerDiscreteScheduler(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.InterpolationType is InterpolationType.LogLinear)
            throw new NotSupportedException("EulerDiscreteScheduler: interpolation_type 'log_linear' is not implemented; expected 'linear'.");
        Config = config;
        Schedule = new NoiseSchedule(config);
        useKarrasSigmas = config.UseKarrasSigmas ?? false;
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
        table.Set(numInferenceSteps, useKarrasSigmas);
    }

    /// <inheritdoc/>
    public Tensor ScaleModelInput(Tensor sample, double timestep) => table.ScaleModelInput(sample, timestep);

    /// <inheritdoc/>
    public Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        SchedulerChecks.SameShape(modelOutput, sample);
        int i = table.IndexOf(timestep);
        float sigma = table.Sigmas[i];

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
            PredictionType.Sample => modelOutput,
            _ => throw new NotSupportedException($"prediction_type {Config.PredictionType} is not supported by Euler."),
        };

        // 2. Euler step of the ODE dx/dsigma = (x - x_0) / sigma to the next level
        Tensor derivative = (sample - x0) / sigmaS;
        using var dt = (table.Sigmas[i + 1] - sigma).ToScalar();
        return sample.add(derivative * dt, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// x_0 + sigma_t eps for timesteps of the current schedule (diffusers' Euler <c>add_noise</c>, the img2img start); a
    /// timestep outside the schedule is an error (use <see cref="NoiseSchedule.AddNoise"/> for training).
    /// </summary>
    /// <inheritdoc/>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) => table.AddNoise(originalSamples, noise, timesteps);
}
