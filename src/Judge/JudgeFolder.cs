using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.IO;
using static TorchSharp.torch;

namespace Latent.Judge;

/// <summary>
/// A trained judge on disk: <c>config.json</c> (<see cref="JudgeConfig"/>), <c>classes.json</c> (a JSON list of
/// <c>{"code", "name"}</c>, index = class id) and <c>model.safetensors</c>; loaded strictly (every key, shape and the
/// class count must agree).
/// </summary>
public static class JudgeFolder
{
    /// <summary>The weights' file name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The config's file name.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The class list's file name.</summary>
    public const string ClassesFileName = "classes.json";

    /// <summary>Whether <paramref name="folder"/> looks like a judge (all three files present).</summary>
    public static bool Exists(string folder) =>
        File.Exists(Path.Combine(folder, ConfigFileName)) && File.Exists(Path.Combine(folder, ClassesFileName)) && File.Exists(Path.Combine(folder, WeightsFileName));

    /// <summary>Writes the judge's weights (converted to <paramref name="dtype"/>), config and classes.</summary>
    /// <exception cref="ArgumentException">The class count differs from the config's.</exception>
    public static void Save(string folder, EmojiJudge judge, IReadOnlyList<JudgeClass> classes, ScalarType dtype = ScalarType.Float16)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(judge);
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count != judge.Config.NumClasses)
            throw new ArgumentException($"{classes.Count} classes for a judge with num_classes {judge.Config.NumClasses}; expected the same.", nameof(classes));
        Directory.CreateDirectory(folder);
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, tensor) in judge.state_dict()) tensors[name] = tensor.detach().to(dtype).contiguous();
        SafeTensors.Save(Path.Combine(folder, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        ConfigFile.Write(Path.Combine(folder, ConfigFileName), judge.Config with { ClassName = JudgeConfig.ClassNameValue });
        var list = new JsonArray();
        foreach (var c in classes) list.Add(new JsonObject { ["code"] = c.Code, ["name"] = c.Name });
        AtomicFile.WriteAllText(Path.Combine(folder, ClassesFileName), list.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Loads a judge (float32, eval mode) and its classes.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">The class list is malformed or disagrees with the config.</exception>
    public static (EmojiJudge Judge, IReadOnlyList<JudgeClass> Classes) Load(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"judge folder '{root}' does not exist");
        foreach (string file in new[] { ConfigFileName, ClassesFileName, WeightsFileName })
            if (!File.Exists(Path.Combine(root, file)))
                throw new FileNotFoundException($"judge folder '{root}' has no {file}; expected {ConfigFileName}, {ClassesFileName} and {WeightsFileName} (the --out of `latent train judge`, its judge/ folder)", Path.Combine(root, file));
        var config = ConfigFile.Read<JudgeConfig>(Path.Combine(root, ConfigFileName), JudgeConfig.ClassNameValue).Config;
        var classes = ReadClasses(Path.Combine(root, ClassesFileName));
        if (classes.Count != config.NumClasses)
            throw new InvalidDataException($"judge folder '{root}': {ClassesFileName} lists {classes.Count} classes, {ConfigFileName} says num_classes {config.NumClasses}; expected the same.");
        var judge = new EmojiJudge(config);
        StateDictLoader.LoadFile(judge, Path.Combine(root, WeightsFileName));
        judge.eval();
        return (judge, classes);
    }

    /// <summary>Reads <c>classes.json</c>: a list of objects with a non-empty, distinct <c>code</c> and a <c>name</c>.</summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the entry.</exception>
    public static List<JudgeClass> ReadClasses(string path)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON ({e.Message}); expected a list of {{\"code\", \"name\"}}.", e); }
        if (root is not JsonArray array) throw new InvalidDataException($"{path}: expected a JSON list of {{\"code\", \"name\"}} objects.");
        var classes = new List<JudgeClass>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < array.Count; i++)
        {
            string? code = (array[i] as JsonObject)?["code"]?.GetValue<string>();
            string name = (array[i] as JsonObject)?["name"]?.GetValue<string>() ?? "";
            if (string.IsNullOrWhiteSpace(code)) throw new InvalidDataException($"{path}: entry {i} has no \"code\"; expected e.g. {{\"code\": \"1F431\", \"name\": \"cat face\"}}.");
            if (!seen.Add(code)) throw new InvalidDataException($"{path}: entry {i} repeats code {code}; expected each class once.");
            classes.Add(new JudgeClass(code, name));
        }
        if (classes.Count == 0) throw new InvalidDataException($"{path}: the class list is empty.");
        return classes;
    }
}
