using System.CommandLine;
using Latent.Core.Engine;

namespace Latent.Cli;

/// <summary>Options that every command takes.</summary>
public static class GlobalOptions
{
    /// <summary><c>--threads</c>: engine threads, applied before the first tensor op.</summary>
    public static readonly Option<int> Threads = new("--threads")
    {
        Description = "Engine threads (intra- and inter-op), applied before the first tensor op; default: the number of cores; at most 4 per core.",
        Recursive = true,
        DefaultValueFactory = _ => Environment.ProcessorCount,
        Validators = { OptionChecks.Rule<int>(v => v < 1 ? $"--threads must be at least 1; got {v}."
            : v > TorchEngine.MaxThreads ? $"--threads must be at most {TorchEngine.MaxThreads} (4 per core, {Environment.ProcessorCount} cores here); got {v}." : null) },
    };

    /// <summary>Starts the engine with the parsed <c>--threads</c>.</summary>
    public static EngineInfo StartEngine(ParseResult parsed) => TorchEngine.Initialize(parsed.GetValue(Threads));
}
