using Latent.TextEncoder;

namespace Latent.Training.Tests.TextEncoder;

/// <summary>
/// Runs the trainer tests alone: the trainer seeds torch's global generator before it builds the weights, and another
/// test class drawing from it at the same time (xunit runs classes in parallel) would change them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTrainerCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Latent.Training.Tests.TextEncoder serial";
}
