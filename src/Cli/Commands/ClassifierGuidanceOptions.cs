using System.CommandLine;
using System.Globalization;
using Latent.Judge;
using Latent.Pipeline.Guidance;

namespace Latent.Cli.Commands;

/// <summary>The options of classifier guidance (issue 25): <c>--classifier DIR --classifier-scale S</c>, and for <c>txt2img</c> <c>--class NAME</c>.</summary>
internal static class ClassifierGuidanceOptions
{
    public static readonly Option<string?> Classifier = new("--classifier")
    {
        Description = "Guide with this noisy-latent classifier's gradient (the --out of `latent train classifier`), alone or with --cfg (classifier guidance).",
    };

    public static readonly Option<double> Scale = new("--classifier-scale")
    {
        Description = "Classifier guidance scale s: eps - sqrt(1 - alpha_bar_t) s grad log p(class | x_t).",
        DefaultValueFactory = _ => 4.0,
        Validators = { OptionChecks.Rule<double>(v => v >= 0 && double.IsFinite(v) ? null : $"--classifier-scale must be a finite number >= 0; got {v.ToString(CultureInfo.InvariantCulture)}.") },
    };

    public static readonly Option<string?> Class = new("--class")
    {
        Description = "The class to guide toward (with --classifier): an emoji code such as 1F431 or a class name such as \"cat face\" (classes.json).",
    };

    /// <summary>Adds --classifier and --classifier-scale (and --class).</summary>
    public static void AddTo(Command command, bool withClass)
    {
        command.Options.Add(Classifier);
        command.Options.Add(Scale);
        if (withClass) command.Options.Add(Class);
    }

    /// <summary>The classifier folder, checked before the engine starts; null without --classifier (then --class and --classifier-scale are refused).</summary>
    public static string? Folder(ParseResult parsed, bool withClass)
    {
        string? folder = parsed.GetValue(Classifier);
        if (folder is null)
        {
            if (withClass && parsed.GetValue(Class) is not null) throw new ArgumentException("--class needs --classifier DIR (the classifier that knows the class)");
            if (parsed.GetResult(Scale) is { Implicit: false }) throw new ArgumentException("--classifier-scale needs --classifier DIR");
            return null;
        }
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"--classifier folder '{Path.GetFullPath(folder)}' does not exist; expected the --out of `latent train classifier`");
        if (withClass && string.IsNullOrWhiteSpace(parsed.GetValue(Class))) throw new ArgumentException("--classifier needs --class NAME (an emoji code such as 1F431 or a name from its classes.json)");
        return folder;
    }

    /// <summary>For <c>txt2img</c>: guidance of all <paramref name="images"/> toward --class.</summary>
    public static ClassifierGuidance ForClass(ParseResult parsed, NoisyLatentClassifier classifier, IReadOnlyList<JudgeClass> classes, int images)
    {
        int index = ClassifierFolder.ClassIndex(classes, parsed.GetValue(Class)!);
        return new ClassifierGuidance(classifier, parsed.GetValue(Scale), Enumerable.Repeat<IReadOnlyCollection<int>>([index], images).ToList());
    }
}
