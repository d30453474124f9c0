namespace Latent.Core.Tests.Training;

/// <summary>
/// Runs the training tests that use torch's global generator or measure process memory alone: xunit runs other test
/// classes in parallel, and their draws from the global generator (or their allocations) would change our numbers.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTrainingCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Latent.Core.Tests.Training serial";
}
