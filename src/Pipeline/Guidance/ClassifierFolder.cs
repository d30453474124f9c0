using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.IO;
using Latent.Judge;
using static TorchSharp.torch;

namespace Latent.Pipeline.Guidance;

/// <summary>
/// A trained <see cref="NoisyLatentClassifier"/> on disk: <c>config.json</c>, <c>classes.json</c> (a list of
/// <c>{"code", "name"}</c>, the judge's format) and <c>model.safetensors</c>, loaded strictly.
/// </summary>
public static class ClassifierFolder
{
    /// <summary>The weights' file name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The config's file name.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The class list's file name.</summary>
    public const string ClassesFileName = "classes.json";

    /// <summary>Writes the folder (float32 weights: the classifier is small and its gradient steers sampling).</summary>
    /// <exception cref="ArgumentException">The class count differs from the model's.</exception>
    public static void Save(string folder, NoisyLatentClassifier classifier, IReadOnlyList<JudgeClass> classes)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count != classifier.Config.NumClasses)
            throw new ArgumentException($"{classes.Count} classes for a classifier with num_classes {classifier.Config.NumClasses}; expected the same.", nameof(classes));
        Directory.CreateDirectory(folder);
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, tensor) in classifier.state_dict()) tensors[name] = tensor.detach().to(ScalarType.Float32).contiguous();
        SafeTensors.Save(Path.Combine(folder, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        ConfigFile.Write(Path.Combine(folder, ConfigFileName), classifier.Config with { ClassName = NoisyLatentClassifierConfig.ClassNameValue });
        var list = new JsonArray();
        foreach (var c in classes) list.Add(new JsonObject { ["code"] = c.Code, ["name"] = c.Name });
        AtomicFile.WriteAllText(Path.Combine(folder, ClassesFileName), list.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Loads the folder strictly, in evaluation mode, with its parameters frozen (guidance differentiates the input only).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">One of the three files is missing.</exception>
    /// <exception cref="InvalidDataException">The class list and the config disagree, or the weights do not fit.</exception>
    public static (NoisyLatentClassifier Classifier, IReadOnlyList<JudgeClass> Classes) Load(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"classifier folder '{root}' does not exist");
        foreach (string file in new[] { ConfigFileName, ClassesFileName, WeightsFileName })
            if (!File.Exists(Path.Combine(root, file)))
                throw new FileNotFoundException($"classifier folder '{root}' has no {file}; expected {ConfigFileName}, {ClassesFileName} and {WeightsFileName} (the --out of `latent train classifier`)", Path.Combine(root, file));
        var config = ConfigFile.Read<NoisyLatentClassifierConfig>(Path.Combine(root, ConfigFileName), NoisyLatentClassifierConfig.ClassNameValue).Config;
        var classes = JudgeFolder.ReadClasses(Path.Combine(root, ClassesFileName));
        if (classes.Count != config.NumClasses)
            throw new InvalidDataException($"classifier folder '{root}': {ClassesFileName} lists {classes.Count} classes, {ConfigFileName} says num_classes {config.NumClasses}; expected the same.");
        var classifier = new NoisyLatentClassifier(config);
        StateDictLoader.LoadFile(classifier, Path.Combine(root, WeightsFileName));
        classifier.eval();
        foreach (var p in classifier.parameters()) p.requires_grad_(false);
        return (classifier, classes);
    }

    /// <summary>
    /// The class indices a name selects: an emoji code (<c>1F431</c>, folded as the judge folds it: skin tones and FE0F
    /// dropped) or a class name (<c>cat face</c>), case-insensitively.
    /// </summary>
    /// <exception cref="ArgumentException">No class has that code or name; the message lists a few.</exception>
    public static int ClassIndex(IReadOnlyList<JudgeClass> classes, string name)
    {
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        string trimmed = name.Trim();
        string? folded;
        try { folded = EmojiCodes.Fold(trimmed); }
        catch (ArgumentException) { folded = null; }   // not a code: a name
        for (int i = 0; i < classes.Count; i++)
            if (string.Equals(classes[i].Code, folded, StringComparison.OrdinalIgnoreCase) || string.Equals(classes[i].Name, trimmed, StringComparison.OrdinalIgnoreCase))
                return i;
        throw new ArgumentException($"--class '{name}' is none of the classifier's {classes.Count} classes; expected a code or name such as " +
                                    string.Join(", ", classes.Take(4).Select(c => $"{c.Code} ({c.Name})")), nameof(name));
    }
}
