using Latent.Schedulers;

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

    /// <summary>
    /// The samplers by AUTOMATIC1111 name, in <see cref="SchedulerKind"/> order, each with its aliases (our CLI name and
    /// A1111's k-diffusion alias where it has one), as A1111's <c>/sdapi/v1/samplers</c> lists them.
    /// </summary>
    public static IReadOnlyList<(string Name, SchedulerKind Kind, IReadOnlyList<string> Aliases)> A1111 { get; } =
    [
        ("DDPM", SchedulerKind.Ddpm, ["ddpm"]),
        ("DDIM", SchedulerKind.Ddim, ["ddim"]),
        ("PLMS", SchedulerKind.Pndm, ["pndm", "plms"]),
        ("Euler", SchedulerKind.Euler, ["euler", "k_euler"]),
        ("Euler Karras", SchedulerKind.EulerKarras, ["euler-karras"]),
        ("Euler a", SchedulerKind.EulerAncestral, ["euler-a", "k_euler_a"]),
        ("DPM++ 2M", SchedulerKind.DpmPlusPlus2M, ["dpm++2m", "k_dpmpp_2m"]),
        ("DPM++ 2M Karras", SchedulerKind.DpmPlusPlus2MKarras, ["dpm++2m-karras", "k_dpmpp_2m_ka"]),
    ];

    /// <summary>
    /// The sampler an A1111 client names: a name or alias of <see cref="A1111"/> (case-insensitive), optionally with
    /// A1111 1.9's separate <c>scheduler</c> ("Automatic", "Uniform" or "Karras"; Karras turns Euler and DPM++ 2M into
    /// their Karras forms). Null when the name or the scheduler is unknown, or Karras is asked of a sampler without it.
    /// </summary>
    /// <param name="name">The <c>sampler_name</c>, e.g. "Euler a".</param>
    /// <param name="scheduler">The <c>scheduler</c>, or null.</param>
    public static SchedulerKind? ParseA1111(string name, string? scheduler = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.Trim();
        SchedulerKind? kind = null;
        foreach (var (a1111, k, aliases) in A1111)
            if (string.Equals(a1111, n, StringComparison.OrdinalIgnoreCase) || aliases.Contains(n, StringComparer.OrdinalIgnoreCase))
                kind = k;
        if (kind is null) return null;
        switch (scheduler?.Trim().ToLowerInvariant())
        {
            case null or "" or "automatic" or "uniform":
                return kind;
            case "karras":
                return kind switch
                {
                    SchedulerKind.Euler or SchedulerKind.EulerKarras => SchedulerKind.EulerKarras,
                    SchedulerKind.DpmPlusPlus2M or SchedulerKind.DpmPlusPlus2MKarras => SchedulerKind.DpmPlusPlus2MKarras,
                    _ => null,
                };
            default:
                return null;
        }
    }
}
