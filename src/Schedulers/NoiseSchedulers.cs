using Latent.Core.Config;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// Creates schedulers from a <c>scheduler_config.json</c> or a <see cref="SchedulerKind"/>, and the pipeline helpers
/// every scheduler shares (the timesteps tensor, img2img's timesteps for a strength).
/// </summary>
public static class NoiseSchedulers
{
    /// <summary>Reads a scheduler_config.json (unknown keys kept in <see cref="JsonConfig.ExtensionData"/>, reported in the result).</summary>
    /// <param name="path">The file, e.g. <c>model/scheduler/scheduler_config.json</c>.</param>
    /// <returns>The config and its unknown keys.</returns>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="ConfigException">The file is not a valid scheduler config.</exception>
    public static ConfigRead<SchedulerConfig> Load(string path)
    {
        ConfigRead<SchedulerConfig> read = ConfigFile.Read<SchedulerConfig>(path);
        read.Config.Validate(path);
        return read;
    }

    /// <summary>The scheduler that <paramref name="config"/>'s <c>_class_name</c> names.</summary>
    /// <param name="config">A config of DDPMScheduler, DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler or DPMSolverMultistepScheduler.</param>
    /// <param name="eta">DDIM's eta (ignored by the others, as diffusers' pipelines pass it only to schedulers that take it).</param>
    /// <returns>A new scheduler.</returns>
    /// <exception cref="NotSupportedException">The class is missing or not one of the six.</exception>
    public static INoiseScheduler Create(SchedulerConfig config, double eta = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.ClassName switch
        {
            SchedulerConfig.DdpmClassName => new DdpmScheduler(config),
            SchedulerConfig.DdimClassName => new DdimScheduler(config, eta),
            SchedulerConfig.PndmClassName => new PndmScheduler(config),
            SchedulerConfig.EulerClassName => new EulerDiscreteScheduler(config),
            SchedulerConfig.EulerAncestralClassName => new EulerAncestralDiscreteScheduler(config),
            SchedulerConfig.DpmSolverMultistepClassName => new DpmSolverMultistepScheduler(config),
            _ => throw new NotSupportedException(
                $"Scheduler class '{config.ClassName ?? "(no _class_name)"}' is not supported; expected one of " +
                $"{string.Join(", ", SchedulerConfig.SupportedClassNames)} (or convert with SchedulerKind.ConfigFor)."),
        };
    }

    /// <summary><paramref name="kind"/>'s scheduler on <paramref name="modelConfig"/>'s noise schedule (see <see cref="SchedulerKinds.ConfigFor"/>).</summary>
    /// <param name="kind">The sampler.</param>
    /// <param name="modelConfig">The model's scheduler config (any class: PNDM, DDIM, ...).</param>
    /// <param name="eta">DDIM's eta.</param>
    /// <returns>A new scheduler.</returns>
    public static INoiseScheduler Create(SchedulerKind kind, SchedulerConfig modelConfig, double eta = 0) =>
        Create(kind.ConfigFor(modelConfig), eta);

    /// <summary>
    /// The timesteps as diffusers' tensor: [n], int64 (DDPM, DDIM, PNDM, DPM-Solver) or float64 (Euler). The U-Net takes any of
    /// these (it embeds t in float32).
    /// </summary>
    /// <param name="scheduler">The scheduler.</param>
    /// <returns>A new CPU tensor.</returns>
    public static Tensor TimestepsTensor(this INoiseScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        double[] t = scheduler.Timesteps.ToArray();
        return scheduler.TimestepDtype == ScalarType.Int64 ? tensor(t.Select(v => (long)v).ToArray()) : tensor(t);
    }

    /// <summary>
    /// img2img's timesteps for <paramref name="strength"/> (diffusers' <c>get_timesteps</c>): with n requested steps,
    /// init = min(floor(n strength), n) and t_start = n - init; the schedule from index t_start * order on. The first of
    /// them is where x_0 is noised with <see cref="INoiseScheduler.AddNoise"/>.
    /// </summary>
    /// <param name="scheduler">A scheduler after <see cref="INoiseScheduler.SetTimesteps"/>.</param>
    /// <param name="strength">In [0, 1]: 1 starts from pure noise (all steps), 0 runs no step.</param>
    /// <returns>The timesteps to run (possibly none) and their number.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="strength"/> is outside [0, 1].</exception>
    /// <exception cref="InvalidOperationException">SetTimesteps was not called.</exception>
    public static IReadOnlyList<double> TimestepsForStrength(this INoiseScheduler scheduler, double strength)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        if (!(strength >= 0 && strength <= 1))
            throw new ArgumentOutOfRangeException(nameof(strength), strength, $"strength = {strength}; expected a value in [0, 1].");
        if (scheduler.NumInferenceSteps is not int n)
            throw new InvalidOperationException("Call SetTimesteps before TimestepsForStrength.");
        int init = Math.Min((int)(n * strength), n);
        int tStart = Math.Max(n - init, 0);
        return scheduler.Timesteps.Skip(Math.Min(tStart * scheduler.Order, scheduler.Timesteps.Count)).ToArray();
    }
}
