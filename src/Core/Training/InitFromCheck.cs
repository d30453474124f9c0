using System.Text.Json.Nodes;
using Latent.Core.Config;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>
/// The one check of a config's <c>init_from</c> folder, for every trainer: the folder holds the model's files, and its
/// architecture is the run's (its config keys, and the names and shapes of its weights), or nothing is loaded.
/// </summary>
public static class InitFromCheck
{
    /// <summary>Throws unless every one of <paramref name="files"/> (a name ending in '/' is a folder) is in <paramref name="folder"/>.</summary>
    /// <param name="configName">The config's name in the message ("VAE training config").</param>
    /// <param name="folder">The init_from folder.</param>
    /// <param name="kind">What the folder should be ("VAE").</param>
    /// <param name="files">The files and folders it must hold.</param>
    /// <exception cref="FileNotFoundException">One is missing.</exception>
    public static void RequireFiles(string configName, string folder, string kind, params string[] files)
    {
        bool Exists(string name) => name.EndsWith('/') ? Directory.Exists(Path.Combine(folder, name)) : File.Exists(Path.Combine(folder, name));
        if (!files.All(Exists))
            throw new FileNotFoundException(
                $"{configName}: init_from '{Path.GetFullPath(folder)}' is not a {kind} folder; expected {string.Join(" and ", files)} in it.");
    }

    /// <summary>The keys on which two model configs differ, as "key saved (run: value)"; diffusers' bookkeeping keys
    /// (<c>_class_name</c>, <c>_diffusers_version</c>, ...) and <paramref name="ignored"/> are left out.</summary>
    public static IEnumerable<string> ConfigDifferences(JsonConfig saved, JsonConfig run, params string[] ignored)
    {
        JsonObject Keys(JsonConfig c)
        {
            var json = JsonNode.Parse(ConfigFile.ToJsonText(c))!.AsObject();
            foreach (var key in json.Select(kv => kv.Key).Where(k => k.StartsWith('_') || ignored.Contains(k)).ToList()) json.Remove(key);
            return json;
        }
        var (theirs, mine) = (Keys(saved), Keys(run));
        return mine.Select(kv => kv.Key).Union(theirs.Select(kv => kv.Key))
            .Where(k => !JsonNode.DeepEquals(theirs[k], mine[k]))
            .Select(k => $"{k} {theirs[k]?.ToJsonString() ?? "absent"} (run: {mine[k]?.ToJsonString() ?? "absent"})")
            .ToList();
    }

    /// <summary>The weights that are missing on one side or differ in shape, as "name [saved shape] (run: [shape])".</summary>
    public static IEnumerable<string> ShapeDifferences(IReadOnlyDictionary<string, Tensor> saved, IReadOnlyDictionary<string, Tensor> run)
    {
        static string Shape(IReadOnlyDictionary<string, Tensor> d, string key) => d.TryGetValue(key, out var t) ? string.Join(", ", t.shape) : "missing";
        return run.Keys.Union(saved.Keys)
            .Where(k => !run.TryGetValue(k, out var a) || !saved.TryGetValue(k, out var b) || !a.shape.SequenceEqual(b.shape))
            .Select(k => $"{k} [{Shape(saved, k)}] (run: [{Shape(run, k)}])")
            .ToList();
    }

    /// <summary>Throws when <paramref name="differences"/> is not empty, naming the first three.</summary>
    /// <exception cref="ArgumentException">The folder holds another architecture.</exception>
    public static void RequireSameArchitecture(string configName, string folder, IEnumerable<string> differences)
    {
        var list = differences.ToList();
        if (list.Count == 0) return;
        throw new ArgumentException(
            $"{configName}: init_from '{Path.GetFullPath(folder)}' holds another architecture: {string.Join(", ", list.Take(3))}" +
            (list.Count > 3 ? $" and {list.Count - 3} more" : "") + "; expected the run's model config.");
    }
}
