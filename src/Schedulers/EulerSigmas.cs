using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// The variance-exploding view of a noise schedule that the Euler samplers step in (k-diffusion's parameterisation):
/// sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) and x = x_t / sqrt(alpha_bar_t). Holds the inference timesteps with
/// their sigmas (0 appended), and does what diffusers 0.21's two Euler classes write alike: set_timesteps,
/// scale_model_input, add_noise and init_noise_sigma.
/// </summary>
/// <remarks>
/// The timesteps are float64 (fractional for "linspace"); the sigmas are interpolated linearly in t between the training
/// sigmas (np.interp) and stored as float32. With Karras sigmas, the n interpolated sigmas are replaced by n levels of
/// eq. 5 between the same ends, and each timestep by the fractional t of its level.
/// </remarks>
internal sealed class EulerSigmas
{
    readonly SchedulerConfig config;
    readonly TimestepSpacing spacing;
    readonly float[] trainSigmas;

    /// <summary>The table for <paramref name="schedule"/>; the timesteps are T-1 .. 0 until <see cref="Set"/>.</summary>
    /// <param name="schedule">The forward process.</param>
    /// <param name="config">Its config (timestep_spacing default "linspace", steps_offset).</param>
    public EulerSigmas(NoiseSchedule schedule, SchedulerConfig config)
    {
        this.config = config;
        spacing = config.TimestepSpacing ?? TimestepSpacing.Linspace;
        // sigma_t = ((1 - alpha_bar_t) / alpha_bar_t) ** 0.5, float32 as diffusers
        trainSigmas = schedule.AlphasCumprod.Select(a => MathF.Sqrt((1f - a) / a)).ToArray();
        int T = schedule.NumTrainTimesteps;
        Timesteps = NumpySpacing.Linspace(0, T - 1, T).Reverse().ToArray();
        Sigmas = [.. trainSigmas.Reverse(), 0f];
    }

    /// <summary>The timesteps, noisiest first.</summary>
    public double[] Timesteps { get; private set; }

    /// <summary>sigma at each timestep, then 0 (float32): one more entry than the timesteps.</summary>
    public float[] Sigmas { get; private set; }

    /// <summary>max sigma for "linspace"/"trailing" spacing, sqrt(max sigma^2 + 1) for "leading" (diffusers 0.21, float32).</summary>
    public float InitNoiseSigma
    {
        get
        {
            float max = Sigmas.Max();
            return spacing is TimestepSpacing.Linspace or TimestepSpacing.Trailing ? max : MathF.Sqrt(max * max + 1f);
        }
    }

    /// <summary>Chooses n timesteps and their sigmas (diffusers' <c>set_timesteps</c> of the Euler classes).</summary>
    /// <param name="n">Inference steps, already checked.</param>
    /// <param name="karras">Karras et al.'s levels instead of the interpolated sigmas.</param>
    public void Set(int n, bool karras)
    {
        double[] t = NumpySpacing.Timesteps(spacing, trainSigmas.Length, n, config.StepsOffset, roundLinspace: false);
        // np.interp(timesteps, arange(T), sigmas) in float64
        double[] sigmas = t.Select(v => NumpySpacing.Interp(v, trainSigmas)).ToArray();
        if (karras)
        {
            float[] logSigmas = trainSigmas.Select(s => MathF.Log(s)).ToArray();
            sigmas = KarrasSigmas.From(sigmas, n);
            t = sigmas.Select(s => KarrasSigmas.SigmaToT(s, logSigmas)).ToArray();
        }
        Timesteps = t;
        Sigmas = [.. sigmas.Select(s => (float)s), 0f];
    }

    /// <summary>The position of <paramref name="timestep"/> among <see cref="Timesteps"/>.</summary>
    /// <exception cref="ArgumentException">It is not one of them.</exception>
    public int IndexOf(double timestep)
    {
        int i = SchedulerChecks.IndexOf(Timesteps, timestep);
        if (i < 0)
            throw new ArgumentException($"timestep {timestep} is not one of the scheduler's timesteps ({Timesteps[0]} ... {Timesteps[^1]}).", nameof(timestep));
        return i;
    }

    /// <summary>x / sqrt(sigma^2 + 1): the model sees x_t = sqrt(alpha_bar) x, and 1 / sqrt(sigma^2 + 1) = sqrt(alpha_bar).</summary>
    public Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        ArgumentNullException.ThrowIfNull(sample);
        float sigma = Sigmas[IndexOf(timestep)];
        using var scale = MathF.Sqrt(sigma * sigma + 1f).ToScalar();
        return sample / scale;
    }

    /// <summary>x_0 + sigma_t eps for timesteps of the current schedule (the img2img start).</summary>
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
        float[] sigma = Enumerable.Range(0, (int)batch).Select(b => Sigmas[IndexOf(ts[timesteps.dim() == 0 ? 0 : b])]).ToArray();

        using var scope = NewDisposeScope();
        long[] coefShape = [batch, .. Enumerable.Repeat(1L, originalSamples.shape.Length - 1)];
        Tensor s = tensor(sigma).to(originalSamples.dtype, originalSamples.device).reshape(coefShape);   // [B, 1, 1, 1]
        return originalSamples.add(noise * s, Scalars.One).MoveToOuterDisposeScope();
    }
}
