namespace Latent.Schedulers;

/// <summary>The samplers the CLI offers (its <c>--scheduler</c> names in <see cref="SchedulerKinds.CliName"/>).</summary>
public enum SchedulerKind
{
    /// <summary>"ddpm": DDPMScheduler, ancestral sampling of Ho et al. 2020.</summary>
    Ddpm,

    /// <summary>"ddim": DDIMScheduler (eta = 0 by default: deterministic).</summary>
    Ddim,

    /// <summary>"pndm": PNDMScheduler with skip_prk_steps (PLMS, the sampler of SD 1.x's own configs).</summary>
    Pndm,

    /// <summary>"euler": EulerDiscreteScheduler (deterministic).</summary>
    Euler,

    /// <summary>"euler-karras": EulerDiscreteScheduler on Karras sigmas.</summary>
    EulerKarras,

    /// <summary>"euler-a": EulerAncestralDiscreteScheduler.</summary>
    EulerAncestral,

    /// <summary>"dpm++2m": DPMSolverMultistepScheduler, DPM-Solver++ 2M.</summary>
    DpmPlusPlus2M,

    /// <summary>"dpm++2m-karras": DPM-Solver++ 2M on Karras sigmas.</summary>
    DpmPlusPlus2MKarras,
}

/// <summary>CLI names of <see cref="SchedulerKind"/> and their diffusers classes.</summary>
public static class SchedulerKinds
{
    static readonly (SchedulerKind Kind, string Name)[] Names =
    [
        (SchedulerKind.Ddpm, "ddpm"),
        (SchedulerKind.Ddim, "ddim"),
        (SchedulerKind.Pndm, "pndm"),
        (SchedulerKind.Euler, "euler"),
        (SchedulerKind.EulerKarras, "euler-karras"),
        (SchedulerKind.EulerAncestral, "euler-a"),
        (SchedulerKind.DpmPlusPlus2M, "dpm++2m"),
        (SchedulerKind.DpmPlusPlus2MKarras, "dpm++2m-karras"),
    ];

    /// <summary>All CLI names, in the enum's order.</summary>
    public static IReadOnlyList<string> CliNames { get; } = Names.Select(n => n.Name).ToArray();

    /// <summary>The CLI name of <paramref name="kind"/> ("ddpm", "ddim", "pndm", "euler", "euler-karras", "euler-a", "dpm++2m", "dpm++2m-karras").</summary>
    /// <param name="kind">The kind.</param>
    public static string CliName(this SchedulerKind kind)
    {
        foreach (var (k, name) in Names)
            if (k == kind) return name;
        throw new ArgumentOutOfRangeException(nameof(kind), kind, $"expected one of {string.Join(", ", CliNames)}.");
    }

    /// <summary>The kind named <paramref name="name"/> (case-insensitive CLI name).</summary>
    /// <param name="name">A CLI name.</param>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the valid ones.</exception>
    public static SchedulerKind Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var (k, n) in Names)
            if (string.Equals(n, name.Trim(), StringComparison.OrdinalIgnoreCase)) return k;
        throw new ArgumentException($"Unknown scheduler '{name}'; expected one of {string.Join(", ", CliNames)}.", nameof(name));
    }

    /// <summary>The diffusers class that implements <paramref name="kind"/>.</summary>
    /// <param name="kind">The kind.</param>
    public static string ClassName(this SchedulerKind kind) => kind switch
    {
        SchedulerKind.Ddpm => SchedulerConfig.DdpmClassName,
        SchedulerKind.Ddim => SchedulerConfig.DdimClassName,
        SchedulerKind.Pndm => SchedulerConfig.PndmClassName,
        SchedulerKind.Euler or SchedulerKind.EulerKarras => SchedulerConfig.EulerClassName,
        SchedulerKind.EulerAncestral => SchedulerConfig.EulerAncestralClassName,
        SchedulerKind.DpmPlusPlus2M or SchedulerKind.DpmPlusPlus2MKarras => SchedulerConfig.DpmSolverMultistepClassName,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, $"expected one of {string.Join(", ", CliNames)}."),
    };

    /// <summary>
    /// <paramref name="config"/> (e.g. a pipeline's scheduler_config.json) converted to <paramref name="kind"/>'s class,
    /// as diffusers' <c>Class.from_config(pipe.scheduler.config)</c>: the shared keys (betas, prediction type, spacing,
    /// steps_offset) are kept; "pndm" sets skip_prk_steps true (PLMS, as SD's configs); "euler" and "euler-karras" set
    /// use_karras_sigmas false and true; "dpm++2m" sets algorithm_type dpmsolver++, solver_order 2, solver_type
    /// midpoint and use_karras_sigmas false, "dpm++2m-karras" the same with use_karras_sigmas true.
    /// </summary>
    /// <param name="kind">The sampler.</param>
    /// <param name="config">The model's scheduler config.</param>
    public static SchedulerConfig ConfigFor(this SchedulerKind kind, SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        SchedulerConfig converted = config.ConvertTo(kind.ClassName());
        return kind switch
        {
            SchedulerKind.Pndm => converted with { SkipPrkSteps = true },
            SchedulerKind.Euler or SchedulerKind.EulerKarras => converted with { UseKarrasSigmas = kind == SchedulerKind.EulerKarras },
            SchedulerKind.DpmPlusPlus2M or SchedulerKind.DpmPlusPlus2MKarras => converted with
            {
                AlgorithmType = DpmSolverAlgorithmType.DpmSolverPlusPlus,
                SolverOrder = 2,
                SolverType = DpmSolverType.Midpoint,
                UseKarrasSigmas = kind == SchedulerKind.DpmPlusPlus2MKarras,
            },
            _ => converted,
        };
    }
}
