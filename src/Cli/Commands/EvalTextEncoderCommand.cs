using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Latent.Core.Data;
using Latent.Core.IO;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder.Tokenization;
using Latent.Training.TextEncoder;
using Latent.TextEncoder.Captions;
using Latent.TextEncoder;

namespace Latent.Cli.Commands;

/// <summary>
/// <c>latent eval text-encoder</c>: text-to-image and image-to-text recall@1/@5 and zero-shot category accuracy of a
/// trained CLIP on an image folder's held-out split; prints a table and writes the metrics as JSON.
/// </summary>
public static class EvalTextEncoderCommand
{
    static readonly ClipTrainingConfig Defaults = new();

    static readonly Option<string> Model = new("--model") { Description = "A folder with text_encoder/, image_encoder/ and tokenizer/ (the --out of `latent train text-encoder`).", Required = true };
    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl.", Required = true };
    static readonly Option<string> Split = new("--split") { Description = "The split to evaluate.", DefaultValueFactory = _ => "validation" };
    static readonly Option<int> Pairs = new("--pairs")
    {
        Description = "At most this many pairs in the retrieval pool (the first ones in file order); the issue's protocol wants at least 500.",
        DefaultValueFactory = _ => Defaults.EvalPairs,
        Validators = { OptionChecks.Rule<int>(v => v < 2 ? $"--pairs must be at least 2; got {v}." : null) },
    };
    static readonly Option<string> ZeroShotTemplate = new("--zero-shot-template")
    {
        Description = "The class prompt; {caption} is replaced by the category name.",
        DefaultValueFactory = _ => Defaults.ZeroShotTemplate,
        Validators =
        {
            OptionChecks.Rule<string>(v => v is null || v.Split(CaptionTemplates.CaptionSlot).Length != 2
                ? $"--zero-shot-template must hold {CaptionTemplates.CaptionSlot} exactly once; got '{v}'." : null),
        },
    };
    static readonly Option<string> Json = new("--json") { Description = "Where to write the metrics JSON; default MODEL/eval_text_encoder.json." };

    /// <summary>Builds the command (registered as <c>latent eval text-encoder</c>).</summary>
    public static Command Create()
    {
        var command = new Command("text-encoder",
            "Retrieval recall@1/@5 (text->image, image->text) within the split's pool and zero-shot category accuracy of a trained CLIP; prints a table and writes JSON.");
        command.Options.Add(Model);
        command.Options.Add(Data);
        command.Options.Add(DataOptions.SkipBad);
        command.Options.Add(Split);
        command.Options.Add(Pairs);
        command.Options.Add(ZeroShotTemplate);
        command.Options.Add(Json);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        string modelDir = Path.GetFullPath(parsed.GetValue(Model)!);
        string data = parsed.GetValue(Data)!;
        if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"--model folder '{modelDir}' does not exist");
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        string tokenizerDir = Path.Combine(modelDir, ClipModelFolder.TokenizerFolder);
        if (!Directory.Exists(tokenizerDir)) throw new DirectoryNotFoundException($"--model folder '{modelDir}' has no tokenizer/");
        string split = parsed.GetValue(Split)!;
        string jsonPath = Path.GetFullPath(parsed.GetValue(Json) ?? Path.Combine(modelDir, "eval_text_encoder.json"));

        GlobalOptions.StartEngine(parsed);
        using var model = ClipModelFolder.Load(modelDir);
        var tokenizer = ClipTokenizer.FromPretrained(tokenizerDir);
        var dataset = DataOptions.Read(parsed, data, split);
        using var set = ClipEvalSet.Load(dataset, model.ImageConfig.ImageSize, parsed.GetValue(Pairs), Defaults.KeyField, Defaults.CategoryField);
        var result = ClipEvaluator.Evaluate(model, tokenizer, set, parsed.GetValue(ZeroShotTemplate)!);

        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"model {modelDir}; split {split}: {result.Pairs} pairs" +
                          (result.Pairs < 500 ? " (fewer than the 500 the protocol asks for)" : ""));
        Console.WriteLine($"{"metric",-28} {"value",8} {"target",8}");
        Console.WriteLine($"{"text->image recall@1",-28} {result.TextToImageRecall1.ToString("F4", c),8} {">= 0.5",8}");
        Console.WriteLine($"{"text->image recall@5",-28} {result.TextToImageRecall5.ToString("F4", c),8} {">= 0.8",8}");
        Console.WriteLine($"{"image->text recall@1",-28} {result.ImageToTextRecall1.ToString("F4", c),8}");
        Console.WriteLine($"{"image->text recall@5",-28} {result.ImageToTextRecall5.ToString("F4", c),8}");
        Console.WriteLine($"{$"zero-shot ({result.ZeroShotClasses} classes)",-28} {(result.ZeroShotAccuracy is { } z ? z.ToString("F4", c) : "n/a"),8}");
        var json = result.ToJson();
        json["model"] = modelDir;
        json["split"] = split;
        json["zero_shot_template"] = parsed.GetValue(ZeroShotTemplate);
        Directory.CreateDirectory(Path.GetDirectoryName(jsonPath)!);
        AtomicFile.WriteAllText(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {jsonPath}");
        return 0;
    }

    /// <summary>One line of the retrieval metrics, for the trainer's summary.</summary>
    internal static string Summary(ClipEvaluation v)
    {
        var c = CultureInfo.InvariantCulture;
        return $"validation on {v.Pairs} pairs: text->image R@1 {v.TextToImageRecall1.ToString("F3", c)} R@5 {v.TextToImageRecall5.ToString("F3", c)}, " +
               $"image->text R@1 {v.ImageToTextRecall1.ToString("F3", c)} R@5 {v.ImageToTextRecall5.ToString("F3", c)}" +
               (v.ZeroShotAccuracy is { } z ? $", zero-shot {z.ToString("F3", c)} ({v.ZeroShotClasses} classes)" : "");
    }
}
