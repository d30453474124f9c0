using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>
/// Captures and restores random-number state: torch's global generator (dropout and every op without an explicit
/// generator draw from it) and the trainer's named <see cref="Generator"/>s (noise, timesteps, caption dropout).
/// </summary>
/// <remarks>States are uint8 tensors as torch returns them (Philox/Mersenne-Twister state bytes): opaque, restored
/// bit for bit. Keys: <c>torch</c> for the global generator, <c>generator.{name}</c> for a named one.</remarks>
public static class RngState
{
    /// <summary>The key of the global generator's state.</summary>
    public const string GlobalKey = "torch";

    /// <summary>The key prefix of a named generator's state.</summary>
    public const string GeneratorPrefix = "generator.";

    /// <summary>New tensors holding the current states; the caller disposes them.</summary>
    /// <param name="generators">The trainer's generators by name (may be empty).</param>
    public static Dictionary<string, Tensor> Capture(IReadOnlyDictionary<string, Generator> generators)
    {
        ArgumentNullException.ThrowIfNull(generators);
        var d = new Dictionary<string, Tensor> { [GlobalKey] = torch.get_rng_state().DetachFromDisposeScope() };
        foreach (var (name, g) in generators) d[GeneratorPrefix + name] = g.get_state().DetachFromDisposeScope();
        return d;
    }

    /// <summary>Every problem with saved states (a missing or unexpected generator); empty when they fit.</summary>
    /// <param name="savedKeys">The keys of the saved states.</param>
    /// <param name="generators">The generators they should restore, by name.</param>
    public static List<string> Check(IEnumerable<string> savedKeys, IReadOnlyDictionary<string, Generator> generators)
    {
        var saved = savedKeys.ToHashSet();
        var expected = generators.Keys.Select(n => GeneratorPrefix + n).Append(GlobalKey).ToHashSet();
        var missing = expected.Where(k => !saved.Contains(k)).ToList();
        var unexpected = saved.Where(k => !expected.Contains(k)).ToList();
        var problems = new List<string>();
        if (missing.Count > 0) problems.Add("RNG state: missing keys " + StateCheck.List(missing));
        if (unexpected.Count > 0) problems.Add("RNG state: unexpected keys " + StateCheck.List(unexpected));
        return problems;
    }

    /// <summary>Sets the global generator and each named generator to the saved states.</summary>
    /// <exception cref="InvalidDataException">A generator's state is missing or unexpected; the message names it.</exception>
    public static void Restore(IReadOnlyDictionary<string, Tensor> saved, IReadOnlyDictionary<string, Generator> generators)
    {
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(generators);
        var problems = Check(saved.Keys, generators);
        if (problems.Count > 0) throw new InvalidDataException(string.Join("; ", problems));
        torch.set_rng_state(saved[GlobalKey]);
        foreach (var (name, g) in generators) g.set_state(saved[GeneratorPrefix + name]);
    }
}
