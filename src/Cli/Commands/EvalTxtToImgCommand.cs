using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Pipeline;
using Latent.Pipeline.Evaluation;
using Latent.Pipeline.Schedulers;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder.Tokenization;
using Latent.TextEncoder.Training;
using static TorchSharp.torch;

namespace Latent.Cli.Commands;

/// <summary>
/// <c>latent eval txt2img</c>: generates a prompt list at several guidance scales and scores the images with our CLIP:
/// prompt fidelity against the real-image ceiling and the Fréchet distance to the real images; prints a table, writes
/// JSON and a grid with one row per scale.
/// </summary>
public static class EvalTxtToImgCommand
{
    static readonly TextToImageEvalOptions Defaults = new() { Prompts = ["-"] };
    static readonly ClipTrainingConfig ClipDefaults = new();

    static readonly Option<string> Prompts = new("--prompts") { Description = "A text file with one prompt a line (blank lines and lines starting with # are skipped).", Required = true };
    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl: its real images and captions are the ceiling, the candidates and the Fréchet reference.", Required = true };
    static readonly Option<string> Split = new("--split") { Description = "The split of the real images.", DefaultValueFactory = _ => "validation" };
    static readonly Option<int> RealImages = new("--real")
    {
        Description = "At most this many real images (the first ones in file order).",
        DefaultValueFactory = _ => 1000,
        Validators = { OptionChecks.Rule<int>(v => v < 2 ? $"--real must be at least 2; got {v}." : null) },
    };
    static readonly Option<string?> Clip = new("--clip")
    {
        Description = "The scoring CLIP: a folder with text_encoder/, image_encoder/ and tokenizer/; default: the --model folder.",
    };
    static readonly Option<string> Cfg = new("--cfg")
    {
        Description = "Guidance scales to compare, comma-separated.",
        DefaultValueFactory = _ => "1,3,7.5",
        Validators = { OptionChecks.Rule<string>(v => ParseScales(v) is null ? $"--cfg must be comma-separated numbers ≥ 0, e.g. 1,3,7.5; got '{v}'." : null) },
    };
    static readonly Option<int> Seeds = new("--seeds")
    {
        Description = "Images per prompt and scale (seeds --seed, --seed + 1, ...).",
        DefaultValueFactory = _ => Defaults.SeedsPerPrompt,
        Validators = { OptionChecks.Rule<int>(v => v < 1 ? $"--seeds must be at least 1; got {v}." : null) },
    };
    static readonly Option<int> BatchSize = new("--batch-size")
    {
        Description = "Prompts per pipeline call.",
        DefaultValueFactory = _ => Defaults.BatchSize,
        Validators = { OptionChecks.Rule<int>(v => v < 1 ? $"--batch-size must be at least 1; got {v}." : null) },
    };
    static readonly Option<string> Json = new("--json") { Description = "Where to write the metrics JSON; default MODEL/eval_txt2img.json." };
    static readonly Option<string?> GridPath = new("--grid") { Description = "Where to write a grid: one row per scale, the first 8 prompts at the first seed." };

    /// <summary>Builds the command (registered as <c>latent eval txt2img</c>).</summary>
    public static Command Create()
    {
        var command = new Command("txt2img",
            "Generate a prompt list at several guidance scales and score the images with our CLIP: prompt fidelity against the real-image ceiling, and the Fréchet distance of CLIP embeddings to real images.");
        command.Options.Add(Prompts);
        command.Options.Add(Data);
        command.Options.Add(DataOptions.SkipBad);
        command.Options.Add(Split);
        command.Options.Add(RealImages);
        command.Options.Add(GenerationOptions.Model);
        command.Options.Add(GenerationOptions.Config);
        command.Options.Add(GenerationOptions.Lora);
        command.Options.Add(Clip);
        command.Options.Add(Cfg);
        command.Options.Add(Seeds);
        command.Options.Add(GenerationOptions.Steps);
        command.Options.Add(GenerationOptions.Scheduler);
        command.Options.Add(GenerationOptions.Seed);
        command.Options.Add(GenerationOptions.Dtype);
        command.Options.Add(GenerationOptions.Runtime);
        command.Options.Add(BatchSize);
        command.Options.Add(Json);
        command.Options.Add(GridPath);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments, before the engine starts.
        string modelDir = Path.GetFullPath(GenerationOptions.FindModel(parsed.GetValue(GenerationOptions.Model)));
        string clipDir = Path.GetFullPath(parsed.GetValue(Clip) ?? modelDir);
        if (!ClipModelFolder.Exists(clipDir))
            throw new DirectoryNotFoundException($"--clip folder '{clipDir}' has no text_encoder/ and image_encoder/ configs; expected the --out of `latent train text-encoder` or a model with image_encoder/");
        string data = parsed.GetValue(Data)!;
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        var prompts = ReadPrompts(parsed.GetValue(Prompts)!);
        long seed = parsed.GetValue(GenerationOptions.Seed);
        var options = new TextToImageEvalOptions
        {
            Prompts = prompts,
            GuidanceScales = ParseScales(parsed.GetValue(Cfg)!)!,
            SeedsPerPrompt = parsed.GetValue(Seeds),
            Steps = parsed.GetValue(GenerationOptions.Steps),
            Scheduler = parsed.GetValue(GenerationOptions.Scheduler) is { } name ? SchedulerKinds.Parse(name) : SchedulerKind.Ddim,
            BatchSize = parsed.GetValue(BatchSize),
            Seed = seed >= 0 ? seed : 0,
        };
        options.Validate();
        string jsonPath = Path.GetFullPath(parsed.GetValue(Json) ?? Path.Combine(modelDir, "eval_txt2img.json"));
        string? gridPath = parsed.GetValue(GridPath) is { } g ? Path.GetFullPath(g) : null;

        // 2. Models and real images.
        GlobalOptions.StartEngine(parsed);
        using var pipeline = GenerationOptions.LoadPipeline(parsed, modelDir);
        using var clip = ClipModelFolder.Load(clipDir);
        var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(clipDir, ClipModelFolder.TokenizerFolder));
        var dataset = DataOptions.Read(parsed, data, parsed.GetValue(Split)!);
        using var real = ClipEvalSet.Load(dataset, clip.ImageConfig.ImageSize, parsed.GetValue(RealImages), ClipDefaults.KeyField, ClipDefaults.CategoryField);
        Console.WriteLine($"model {modelDir}; CLIP {clipDir}; {prompts.Count} prompts x {options.SeedsPerPrompt} seeds at cfg " +
                          $"{string.Join(", ", options.GuidanceScales.Select(s => s.ToString(CultureInfo.InvariantCulture)))}, {options.Steps} {options.Scheduler.CliName()} steps; " +
                          $"{real.Count} real images");

        // 3. Generate and score; keep the first seed's first batch of each scale for the grid.
        var gridRows = new List<Tensor>();
        TextToImageEvaluation result;
        try
        {
            void Keep(GeneratedBatch batch)
            {
                if (gridPath is not null && batch.SeedIndex == 0 && batch.FirstPrompt == 0)
                    gridRows.Add(batch.Images.narrow(0, 0, Math.Min(8, batch.Images.shape[0])).clone().DetachFromDisposeScope());
            }
            var progress = new SyncProgress<TextToImageEvalProgress>(p =>
                Console.Error.Write($"\rcfg {p.GuidanceScale.ToString(CultureInfo.InvariantCulture)}: {p.Done}/{p.Total} images   "));
            result = TextToImageEvaluator.Evaluate(pipeline, clip, tokenizer, real.Images, real.Texts, options, progress, Keep);
            Console.Error.WriteLine();
            if (gridPath is not null && gridRows.Count > 0)
            {
                using var sheet = ImageGrid.Tile(cat(gridRows, 0), columns: (int)gridRows[0].shape[0]);
                Directory.CreateDirectory(Path.GetDirectoryName(gridPath)!);
                ImageIO.SavePng(sheet, gridPath);
            }
        }
        finally
        {
            foreach (var row in gridRows) row.Dispose();
        }

        // 4. Report.
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"ceiling (real images vs their captions, {result.Candidates} candidate captions): fidelity {result.CeilingFidelity.ToString("F4", c)}");
        Console.WriteLine($"{"cfg",6} {"images",7} {"fidelity",9} {"/ceiling",9} {"Frechet",9}");
        foreach (var s in result.Scales)
            Console.WriteLine($"{s.GuidanceScale.ToString("0.##", c),6} {s.Images,7} {s.Fidelity.ToString("F4", c),9} {s.RelativeFidelity.ToString("F3", c),9} {s.FrechetDistance.ToString("F4", c),9}");
        var json = result.ToJson();
        json["model"] = modelDir;
        json["clip"] = clipDir;
        json["prompts_file"] = Path.GetFullPath(parsed.GetValue(Prompts)!);
        json["steps"] = options.Steps;
        json["scheduler"] = options.Scheduler.CliName();
        json["seed"] = options.Seed;
        json["seeds_per_prompt"] = options.SeedsPerPrompt;
        Directory.CreateDirectory(Path.GetDirectoryName(jsonPath)!);
        AtomicFile.WriteAllText(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {jsonPath}" + (gridPath is null ? "" : $" and {gridPath}") + $" ({result.Seconds.ToString("F0", c)} s)");
        return 0;
    }

    /// <summary>The prompts of a file: one a line, trimmed; blank lines and # comments skipped.</summary>
    /// <exception cref="FileNotFoundException">The file is missing.</exception>
    /// <exception cref="ArgumentException">It holds no prompt.</exception>
    internal static List<string> ReadPrompts(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--prompts file '{Path.GetFullPath(path)}' does not exist", path);
        Latent.Core.IO.FileKind.RequireRegularForRead(path, "prompts file");
        var prompts = File.ReadLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        return prompts.Count > 0 ? prompts : throw new ArgumentException($"--prompts file '{Path.GetFullPath(path)}' holds no prompt; expected one a line");
    }

    /// <summary>"1,3,7.5" -> [1, 3, 7.5]; null when a part is not a finite number ≥ 0.</summary>
    internal static double[]? ParseScales(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var scales = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out scales[i]) || !(scales[i] >= 0) || double.IsInfinity(scales[i]))
                return null;
        return scales;
    }
}
