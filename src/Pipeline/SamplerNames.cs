using Latent.Pipeline.Schedulers;

namespace Latent.Pipeline;

/// <summary>AUTOMATIC1111's display names of our samplers, for the <c>Sampler:</c> key of the images' parameters.</summary>
public static class SamplerNames
{
    /// <summary>The A1111 name of the sampler that <paramref name="config"/> builds: DDIM, DDPM, PLMS (PNDM with skip_prk_steps; "PNDM" without), Euler, Euler Karras, Euler a, DPM++ 2M, DPM++ 2M Karras (else the class name).</summary>
    /// <param name="config">A scheduler config (its <c>_class_name</c> names the algorithm).</param>
    public static string For(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.ClassName switch
        {
            SchedulerConfig.DdimClassName => "DDIM",
            SchedulerConfig.DdpmClassName => "DDPM",
            SchedulerConfig.PndmClassName => config.SkipPrkSteps == true ? "PLMS" : "PNDM",
            SchedulerConfig.EulerClassName => config.UseKarrasSigmas == true ? "Euler Karras" : "Euler",
            SchedulerConfig.EulerAncestralClassName => "Euler a",
            SchedulerConfig.DpmSolverMultistepClassName when config.AlgorithmType is DpmSolverAlgorithmType.DpmSolver => "DPM2M",
            SchedulerConfig.DpmSolverMultistepClassName => config.UseKarrasSigmas == true ? "DPM++ 2M Karras" : "DPM++ 2M",
            _ => config.ClassName ?? "unknown",
        };
    }
}
