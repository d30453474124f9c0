using System.CommandLine;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.IO;
using Latent.Core.Training;
using Latent.TextEncoder;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder.Tokenization;
using Latent.Training.TextEncoder;
using Spectre.Console;

namespace Latent.Cli.Commands;

/// <summary>
/// <c>latent train text-encoder</c>: contrastive (CLIP) training of the text encoder with an image tower on an image
/// folder's pairs; exports <c>OUT/text_encoder/</c>, <c>OUT/image_encoder/</c> and <c>OUT/tokenizer/</c>.
/// </summary>
public static class TrainTextEncoderCommand
{
    static readonly ClipTrainingConfig Defaults = new();

    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl (its train split is trained on, its validation split validates).", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Run folder: configs, tokenizer/, log.jsonl, checkpoints/ and at the end text_encoder/, image_encoder/, eval.json.", Required = true };
    static readonly Option<string> Tokenizer = new("--tokenizer") { Description = "A CLIP tokenizer folder (vocab.json, merges.txt); default: learn one from the training captions first." };
    static readonly Option<int> VocabSize = new("--vocab-size")
    {
        Description = "Vocabulary of the tokenizer learnt when --tokenizer is not given.",
        DefaultValueFactory = _ => 4096,
        Validators =
        {
            OptionChecks.Rule<int>(v => v is < ClipBpeTrainerOptions.MinVocabSize or > ClipBpeTrainerOptions.MaxVocabSize
                ? $"--vocab-size must be in [{ClipBpeTrainerOptions.MinVocabSize}, {ClipBpeTrainerOptions.MaxVocabSize}]; got {v}." : null),
        },
    };
    static readonly Option<string> Preset = new("--preset")
    {
        Description = "Model size: default (text D=256, 4 layers; 64px ResNet tower 32-256) or tiny (tests: D=32, 16px tower).",
        DefaultValueFactory = _ => "default",
        Validators = { OptionChecks.Rule<string>(v => ModelPreset(v) is null ? $"--preset must be default or tiny; got '{v}'." : null) },
    };
    static readonly Option<long> EvalEvery = new("--eval-every")
    {
        Description = "Validate (recall@1/5, zero-shot) every N steps (0: at the end only).",
        DefaultValueFactory = _ => Defaults.EvalInterval,
        Validators = { OptionChecks.Rule<long>(v => v < 0 ? $"--eval-every must be 0 or more; got {v}." : null) },
    };
    static readonly Option<int> EvalPairs = new("--eval-pairs")
    {
        Description = "At most this many validation pairs in the retrieval pool.",
        DefaultValueFactory = _ => Defaults.EvalPairs,
        Validators = { OptionChecks.Rule<int>(v => v < 2 ? $"--eval-pairs must be at least 2; got {v}." : null) },
    };

    static readonly TrainingOptions Common = new(Defaults, (2, "2 (a contrastive batch needs negatives)"), "Pairs per step (each pair is a negative for the others).",
        "Seed of the weights, data order and caption draws.",
        "Start from this folder's CLIP (text_encoder/, image_encoder/ and tokenizer/: an earlier run's OUT, or weights/emoji-64) " +
        "with a fresh schedule: fine-tuning, or training a finished run longer. Its configs and tokenizer are the model (no --preset, --tokenizer).");

    static readonly Option[] HyperParameters = [Tokenizer, VocabSize, Preset, EvalEvery, EvalPairs, .. Common.HyperParameters];

    /// <summary>Builds the command (registered as <c>latent train text-encoder</c>).</summary>
    public static Command Create()
    {
        var command = new Command("text-encoder",
            "Train the text encoder contrastively (CLIP InfoNCE with an image tower, same-emoji pairs masked): AdamW, warm-up + cosine, EMA, " +
            "recall validation, checkpoints, --resume; exports OUT/text_encoder/, OUT/image_encoder/ and OUT/tokenizer/.");
        command.Options.Add(Data);
        command.Options.Add(Out);
        command.Options.Add(Common.Resume);
        command.Options.Add(DataOptions.SkipBad);
        command.Options.Add(DataParallelSession.CollectiveTimeout);
        foreach (var option in HyperParameters) command.Options.Add(option);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments, configs and the tokenizer, before the engine starts.
        string data = parsed.GetValue(Data)!;
        string outDir = Path.GetFullPath(parsed.GetValue(Out)!);
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        bool resume = parsed.GetValue(Common.Resume);
        var training = resume ? TrainingOptions.SavedTraining<ClipTrainingConfig>(parsed, outDir, HyperParameters) : NewTraining(parsed, outDir);
        var trainSet = DataOptions.Read(parsed, data, training.TrainSplit);
        var (text, image, tokenizer, tokenizerNote) = resume ? SavedModel(outDir) : NewModel(parsed, trainSet);

        // 2. The processes (one, or the ranks of mpiexec), data and trainer.
        using var session = DataParallelSession.Start(TimeSpan.FromSeconds(parsed.GetValue(DataParallelSession.CollectiveTimeout)));
        var parallel = session.Parallel;
        if (tokenizerNote is not null) Console.WriteLine(tokenizerNote);
        BatchShare.Of(training.BatchSize, parallel);   // a batch smaller than N fails before any work
        GlobalOptions.StartEngine(parsed);
        ImageFolderDataset? validationSet = DataOptions.ReadOptional(parsed, data, training.ValidationSplit);
        using var trainer = new ClipTrainer(text, image, training, tokenizer, trainSet, validationSet, outDir, parallel);
        long? resumed = resume ? trainer.Resume() : null;
        foreach (string skipped in trainer.ResumeSkipped) Console.Error.WriteLine($"warning: {skipped}; resuming from the older checkpoint");
        long parameters = trainer.Model.parameters().Sum(p => p.numel());
        Console.WriteLine($"training a CLIP text encoder ({(parameters / 1e6).ToString("F2", CultureInfo.InvariantCulture)} M parameters with the image tower, " +
                          $"vocabulary {tokenizer.VocabSize}) on {trainSet.Count} pairs, validating on {trainer.ValidationCount}" +
                          (validationSet is null ? " training pairs (no validation split)" : "") +
                          (resumed is null ? "" : $"; resumed at step {resumed}") + $"; run folder {outDir}");

        if (parallel.Size > 1) Console.WriteLine(session.Describe(training.BatchSize));

        // 3. Train, with Ctrl+C saving a checkpoint.
        ClipTrainingResult result = TrainingConsole.Run<ClipStepLosses, ClipTrainingResult>(training.Steps, trainer.Step,
            (progress, token) => trainer.Run(progress, cancellation: token), p => Describe(p, trainer.LastValidation));

        // 4. Summary.
        string validation = result.Validation is { } v ? EvalTextEncoderCommand.Summary(v) : "no validation yet";
        if (!result.Completed)
        {
            Console.WriteLine($"stopped at step {result.Step}/{training.Steps} ({validation}); continue with --resume --out {outDir}");
            session.Complete();
            return 0;
        }
        session.Complete();
        Console.WriteLine($"done: {result.Step} steps; {validation}; wrote text_encoder/, image_encoder/, tokenizer/, eval.json, log.jsonl and charts in {outDir}");
        return 0;
    }

    static ClipTrainingConfig NewTraining(ParseResult parsed, string outDir)
    {
        TrainingOptions.RequireNewRun(outDir);
        var training = Common.Apply(parsed, new ClipTrainingConfig
        {
            EvalInterval = parsed.GetValue(EvalEvery),
            EvalPairs = parsed.GetValue(EvalPairs),
            InitFrom = parsed.GetValue(Common.InitFrom) is { } init ? Path.GetFullPath(init) : null,
        });
        training.Validate();
        return training;
    }

    static (ClipTextConfig, ClipImageTowerConfig, ClipTokenizer, string?) NewModel(ParseResult parsed, ImageFolderDataset train)
    {
        if (parsed.GetValue(Common.InitFrom) is { } init) return InitialModel(parsed, init);
        var (textPreset, imagePreset) = ModelPreset(parsed.GetValue(Preset))!.Value;
        ClipTokenizer tokenizer;
        string? note = null;
        if (parsed.GetValue(Tokenizer) is { } dir)
        {
            if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"--tokenizer folder '{Path.GetFullPath(dir)}' does not exist");
            tokenizer = ClipTokenizer.FromPretrained(dir);
        }
        else
        {
            var captions = train.Records.SelectMany(r => r.Captions).ToList();
            tokenizer = ClipBpeTrainer.Train(captions, new ClipBpeTrainerOptions { VocabSize = parsed.GetValue(VocabSize) });
            note = $"learnt a tokenizer of {tokenizer.VocabSize} tokens from {captions.Count} training captions";
        }
        return (ClipTrainer.TextConfigFor(textPreset, tokenizer), imagePreset, tokenizer, note);
    }

    // --init-from: the folder's configs and tokenizer are the model; the trainer loads its weights.
    static (ClipTextConfig, ClipImageTowerConfig, ClipTokenizer, string?) InitialModel(ParseResult parsed, string init)
    {
        var given = new Option[] { Preset, Tokenizer, VocabSize }.Where(o => parsed.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new ArgumentException($"--init-from names the model and its tokenizer; drop {string.Join(", ", given)}");
        string folder = Path.GetFullPath(init);
        var (text, image, tokenizer) = ReadModel(
            Path.Combine(folder, ClipModelFolder.TextEncoderFolder, PretrainedFolder.ConfigFileName),
            Path.Combine(folder, ClipModelFolder.ImageEncoderFolder, PretrainedFolder.ConfigFileName),
            Path.Combine(folder, ClipModelFolder.TokenizerFolder),
            config => $"--init-from '{folder}' is not a CLIP folder; expected text_encoder/, image_encoder/ and tokenizer/ (missing {Path.GetRelativePath(folder, config)})",
            $"--init-from '{folder}' lacks tokenizer/ (the CLIP's vocabulary)");
        return (text, image, tokenizer, $"starting from the CLIP in {folder}");
    }

    static (ClipTextConfig, ClipImageTowerConfig, ClipTokenizer, string?) SavedModel(string outDir)
    {
        var (text, image, tokenizer) = ReadModel(
            Path.Combine(outDir, ClipTrainer.TextConfigFileName),
            Path.Combine(outDir, ClipTrainer.ImageConfigFileName),
            Path.Combine(outDir, ClipModelFolder.TokenizerFolder),
            config => $"--resume: '{outDir}' lacks {Path.GetFileName(config)}",
            $"--resume: '{outDir}' lacks tokenizer/");
        return (text, image, tokenizer, null);
    }

    // The model of a run to resume or of a CLIP folder to start from: the two towers' configs and the tokenizer.
    static (ClipTextConfig, ClipImageTowerConfig, ClipTokenizer) ReadModel(string textPath, string imagePath, string tokenizerDir,
        Func<string, string> missingConfig, string missingTokenizer)
    {
        foreach (string path in new[] { textPath, imagePath })
            if (!File.Exists(path)) throw new FileNotFoundException(missingConfig(path), path);
        if (!Directory.Exists(tokenizerDir)) throw new DirectoryNotFoundException(missingTokenizer);
        var text = ConfigFile.Read<ClipTextConfig>(textPath, ClipTextConfig.ClassName).Config;
        var image = ConfigFile.Read<ClipImageEncoderConfig>(imagePath, ClipImageEncoderConfig.ClassNameValue).Config.ToTower();
        return (text, image, ClipTokenizer.FromPretrained(tokenizerDir));
    }

    static (ClipTextConfig Text, ClipImageTowerConfig Image)? ModelPreset(string? name) => name?.ToLowerInvariant() switch
    {
        "default" => (ClipTextConfig.Default, ClipImageTowerConfig.Default),
        "tiny" => (ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny),
        _ => null,
    };

    /// <summary>One line: step, loss, temperature, batch accuracy, speed, ETA and the last validation.</summary>
    internal static string Describe(TrainingProgress<ClipStepLosses> p, ClipEvaluation? validation)
    {
        var c = CultureInfo.InvariantCulture;
        return TrainingConsole.Describe(p,
            l => $"loss {l.Loss.ToString("F4", c)} scale {l.LogitScale.ToString("F1", c)} acc {l.BatchAccuracy.ToString("F2", c)} lr {l.LearningRate.ToString("G2", c)}",
            validation is { } v ? $"val t2i R@1 {v.TextToImageRecall1.ToString("F3", c)} R@5 {v.TextToImageRecall5.ToString("F3", c)}" : null);
    }
}
