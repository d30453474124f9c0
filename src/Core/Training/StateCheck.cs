using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>Compares a set of saved tensors with the live ones they should restore, naming every mismatch.</summary>
internal static class StateCheck
{
    /// <summary>At most this many keys are spelled out per problem; the rest are counted.</summary>
    const int MaxListed = 12;

    /// <summary>
    /// Returns one line per kind of problem: keys the live set has but the saved set lacks, keys only the saved set has,
    /// and keys whose shape or dtype differ. Empty when they match.
    /// </summary>
    public static List<string> Compare(string what, IReadOnlyDictionary<string, Tensor> live, IReadOnlyDictionary<string, Tensor> saved) =>
        Compare(what, live, saved.ToDictionary(kv => kv.Key, kv => new TensorSpec(kv.Value.shape, kv.Value.dtype)));

    /// <summary><see cref="Compare(string, IReadOnlyDictionary{string, Tensor}, IReadOnlyDictionary{string, Tensor})"/>
    /// against saved shapes and dtypes only (a file's header), so nothing has to be read to validate.</summary>
    public static List<string> Compare(string what, IReadOnlyDictionary<string, Tensor> live, IReadOnlyDictionary<string, TensorSpec> saved)
    {
        var problems = new List<string>();
        var missing = live.Keys.Where(k => !saved.ContainsKey(k)).ToList();
        var unexpected = saved.Keys.Where(k => !live.ContainsKey(k)).ToList();
        var mismatched = new List<string>();
        foreach (var (key, tensor) in live)
        {
            if (!saved.TryGetValue(key, out var s)) continue;
            if (!s.Shape.SequenceEqual(tensor.shape) || s.Dtype != tensor.dtype)
                mismatched.Add($"{key} (saved {s}, expected {new TensorSpec(tensor.shape, tensor.dtype)})");
        }
        if (missing.Count > 0) problems.Add($"{what}: missing keys {List(missing)}");
        if (unexpected.Count > 0) problems.Add($"{what}: unexpected keys {List(unexpected)}");
        if (mismatched.Count > 0) problems.Add($"{what}: mismatched {List(mismatched)}");
        return problems;
    }

    /// <summary>Joins names for a message, listing at most <see cref="MaxListed"/>.</summary>
    public static string List(IReadOnlyCollection<string> items)
    {
        var shown = items.OrderBy(s => s, StringComparer.Ordinal).Take(MaxListed);
        string more = items.Count > MaxListed ? $" and {items.Count - MaxListed} more" : "";
        return string.Join(", ", shown) + more;
    }
}

/// <summary>A saved tensor's shape and dtype.</summary>
internal readonly record struct TensorSpec(IReadOnlyList<long> Shape, ScalarType Dtype)
{
    /// <summary>E.g. <c>Float32 [8, 3, 3, 3]</c>.</summary>
    public override string ToString() => $"{Dtype} [{string.Join(", ", Shape)}]";
}
