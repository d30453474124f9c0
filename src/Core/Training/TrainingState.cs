using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>
/// The live objects of a training run that a checkpoint saves and restores. The model, optimizer, EMA and sampler
/// must be built the same way as in the run that saved (same architecture, parameter names, data set and seed).
/// </summary>
public sealed class TrainingState
{
    /// <summary>The model being trained; its whole state dict (parameters and buffers) is saved.</summary>
    public required nn.Module Model { get; init; }

    /// <summary>The optimizer over <see cref="Model"/>'s parameters.</summary>
    public required AdamWOptimizer Optimizer { get; init; }

    /// <summary>The EMA of the weights, or null when the run keeps none.</summary>
    public ExponentialMovingAverage? Ema { get; init; }

    /// <summary>The data order.</summary>
    public required ShuffleSampler Sampler { get; init; }

    /// <summary>The trainer's explicit generators by name (the global torch generator is always saved).</summary>
    public IReadOnlyDictionary<string, Generator> Generators { get; init; } = new Dictionary<string, Generator>();
}
