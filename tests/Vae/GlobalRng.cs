namespace Latent.Vae.Tests;

/// <summary>
/// Tests whose weights come from the global generator after <c>manual_seed</c> run alone: any test class running beside
/// them draws from the same generator between the seed and the draw (OverfitTests failed that way once in a full run
/// and passed alone). Classes join with <c>[Collection(GlobalRng.Name)]</c>.
/// </summary>
[CollectionDefinition(GlobalRng.Name, DisableParallelization = true)]
public sealed class GlobalRngCollection;

/// <summary>The name of the collection of tests that seed the global generator.</summary>
public static class GlobalRng
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Latent.Vae.Tests global generator";
}
