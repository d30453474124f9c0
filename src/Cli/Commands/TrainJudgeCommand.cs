using System.CommandLine;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Judge.Training;

namespace Latent.Cli.Commands;

/// <summary><c>latent train judge</c>: trains the emoji classifier that judges generated images and exports <c>OUT/judge/</c>.</summary>
public static class TrainJudgeCommand
{
    static readonly JudgeTrainingConfig Defaults = new();

    static readonly Option<string> Data = new("--data") { Description = "Emoji image folder with metadata.jsonl (needs the unified and source fields): every split and vendor gives the classes.", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Run folder: training_config.json, log.jsonl, checkpoints/, report.json and at the end judge/.", Required = true };
    static readonly Option<bool> Resume = new("--resume") { Description = "Continue the run in --out from its newest checkpoint, with its saved config." };
    static readonly Option<bool> ExportOnly = new("--export-only")
    {
        Description = "With --resume: evaluate and export OUT/judge/ from the newest checkpoint's EMA weights without training further (for a run stopped early).",
    };
    static readonly Option<long> Steps = new("--steps")
    {
        Description = "Total optimizer steps.",
        DefaultValueFactory = _ => Defaults.Steps,
        Validators = { OptionChecks.Rule<long>(v => v < 1 ? $"--steps must be at least 1; got {v}." : null) },
    };
    static readonly Option<int> BatchSize = new("--batch-size")
    {
        Description = "Images per step (class-balanced).",
        DefaultValueFactory = _ => Defaults.BatchSize,
        Validators = { OptionChecks.Rule<int>(v => v < 1 ? $"--batch-size must be at least 1; got {v}." : null) },
    };
    static readonly Option<double> LearningRate = new("--lr")
    {
        Description = "Peak AdamW learning rate (warm-up, then cosine).",
        DefaultValueFactory = _ => Defaults.LearningRate,
        Validators = { OptionChecks.Rule<double>(v => !(v > 0) || double.IsInfinity(v) ? $"--lr must be a number > 0; got {v}." : null) },
    };
    static readonly Option<long> Warmup = new("--warmup") { Description = "Warm-up steps.", DefaultValueFactory = _ => Defaults.WarmupSteps };
    static readonly Option<string?> Holdout = new("--holdout-source")
    {
        Description = "Leave one vendor (e.g. openmoji, twemoji, noto) out of training and report the judge's accuracy on it: how well it generalises to an unseen style.",
        Validators = { OptionChecks.Rule<string?>(v => v is not null && v.Trim().Length == 0 ? "--holdout-source must name a vendor; got an empty value." : null) },
    };
    static readonly Option<double> CosineScale = new("--cosine-scale")
    {
        Description = "Logit scale of the cosine classifier (0: a plain linear layer).",
        DefaultValueFactory = _ => Defaults.CosineScale,
        Validators = { OptionChecks.Rule<double>(v => !(v >= 0) || double.IsInfinity(v) ? $"--cosine-scale must be a number ≥ 0; got {v}." : null) },
    };
    static readonly Option<bool> NoAugment = new("--no-augment") { Description = "Train on the clean renderings (for comparisons; the shipped judge is augmented)." };
    static readonly Option<long> EvalEvery = new("--eval-every") { Description = "Evaluate every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.EvalInterval };
    static readonly Option<long> CheckpointEvery = new("--checkpoint-every") { Description = "Checkpoint every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.CheckpointInterval };
    static readonly Option<ulong> Seed = new("--seed") { Description = "Seed of the weights, class order, image choice and augmentations.", DefaultValueFactory = _ => Defaults.Seed };

    static readonly Option[] HyperParameters = [Steps, BatchSize, LearningRate, Warmup, Holdout, CosineScale, NoAugment, EvalEvery, CheckpointEvery, Seed];

    /// <summary>Builds the command (registered as <c>latent train judge</c>).</summary>
    public static Command Create()
    {
        var command = new Command("judge", "Train the emoji judge: a small ResNet classifier over base emoji (skin tones folded) on real renderings, class-balanced and strongly augmented; reports validation and held-out-vendor accuracy; exports OUT/judge/.");
        command.Options.Add(Data);
        command.Options.Add(Out);
        command.Options.Add(Resume);
        command.Options.Add(ExportOnly);
        command.Options.Add(DataOptions.SkipBad);
        foreach (var option in HyperParameters) command.Options.Add(option);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments and config, before the engine starts.
        string data = parsed.GetValue(Data)!;
        string outDir = Path.GetFullPath(parsed.GetValue(Out)!);
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        if (parsed.GetValue(ExportOnly) && !parsed.GetValue(Resume))
            throw new ArgumentException("--export-only exports a stopped run's checkpoint; pass it with --resume --out RUN");
        var training = parsed.GetValue(Resume) ? SavedConfig(parsed, outDir) : NewConfig(parsed, outDir);

        // 2. Data and trainer.
        GlobalOptions.StartEngine(parsed);
        var dataset = DataOptions.Read(parsed, data, split: null, ImageCheck.Exists);
        using var trainer = new JudgeTrainer(training, dataset, outDir);
        long? resumed = parsed.GetValue(Resume) ? trainer.Resume() : null;
        foreach (string skipped in trainer.ResumeSkipped) Console.Error.WriteLine($"warning: {skipped}; resuming from the older checkpoint");
        var (train, validation, holdout, trained) = trainer.Counts;
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"training the judge ({(trainer.Model.parameters().Sum(p => p.numel()) / 1e6).ToString("F2", c)} M parameters, {trainer.Classes.Count} classes, {trained} with training images) " +
                          $"on {train} images; validating on {validation}" + (training.HoldoutSource is { } h ? $"; held-out vendor {h}: {holdout} images" : "") +
                          (resumed is null ? "" : $"; resumed at step {resumed}") + $"; run folder {outDir}");

        if (parsed.GetValue(ExportOnly))
        {
            if (resumed is null) throw new FileNotFoundException($"--export-only: '{outDir}' has no checkpoint to export");
            var exported = trainer.ExportNow();
            Console.WriteLine($"exported step {trainer.Step}/{training.Steps} (EMA): " + string.Join(", ", exported.Select(e => $"{e.Name} top-1 {e.Top1.ToString("F4", c)} top-5 {e.Top5.ToString("F4", c)} ({e.Images} images)")) +
                              $"; wrote {Path.Combine(outDir, JudgeTrainer.ExportFolderName)} and report.json");
            return 0;
        }

        // 3. Train, with Ctrl+C saving a checkpoint.
        var (completed, evaluation) = TrainingConsole.Run<JudgeTrainingProgress, (bool, IReadOnlyList<JudgeSetAccuracy>?)>(training.Steps, trainer.Step,
            (progress, token) => trainer.Run(progress, cancellation: token), p => p.Step, p => p.Phase, Describe);

        // 4. Summary.
        string scores = evaluation is null ? "no evaluation yet" : string.Join(", ", evaluation.Select(e => $"{e.Name} top-1 {e.Top1.ToString("F4", c)} top-5 {e.Top5.ToString("F4", c)} ({e.Images} images)"));
        Console.WriteLine(completed
            ? $"done: {trainer.Step} steps; {scores}; wrote {Path.Combine(outDir, JudgeTrainer.ExportFolderName)} and report.json"
            : $"stopped at step {trainer.Step}/{training.Steps} ({scores}); continue with --resume --out {outDir}");
        return 0;
    }

    static JudgeTrainingConfig NewConfig(ParseResult parsed, string outDir)
    {
        string checkpoints = Path.Combine(outDir, "checkpoints");
        if (Directory.Exists(checkpoints) && Directory.EnumerateFiles(checkpoints, "*.safetensors").Any())
            throw new ArgumentException($"--out '{outDir}' already holds a run (checkpoints/); pass --resume to continue it, or choose a new --out");
        var config = new JudgeTrainingConfig
        {
            Steps = parsed.GetValue(Steps),
            BatchSize = parsed.GetValue(BatchSize),
            LearningRate = parsed.GetValue(LearningRate),
            WarmupSteps = Math.Min(parsed.GetValue(Warmup), parsed.GetValue(Steps)),
            HoldoutSource = parsed.GetValue(Holdout)?.Trim(),
            Augment = !parsed.GetValue(NoAugment),
            CosineScale = parsed.GetValue(CosineScale),
            EvalInterval = parsed.GetValue(EvalEvery),
            CheckpointInterval = parsed.GetValue(CheckpointEvery),
            Seed = parsed.GetValue(Seed),
        };
        config.Validate();
        return config;
    }

    static JudgeTrainingConfig SavedConfig(ParseResult parsed, string outDir)
    {
        var given = HyperParameters.Where(o => parsed.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new ArgumentException($"--resume continues with the config saved in '{outDir}'; drop {string.Join(", ", given)} (or edit {JudgeTrainer.TrainingConfigFileName} there)");
        string path = Path.Combine(outDir, JudgeTrainer.TrainingConfigFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"--resume: '{outDir}' holds no run to continue (no {JudgeTrainer.TrainingConfigFileName})");
        return ConfigFile.Read<JudgeTrainingConfig>(path).Config;
    }

    /// <summary>One line: step, loss, batch accuracy, rate, speed and the last evaluation.</summary>
    internal static string Describe(JudgeTrainingProgress p)
    {
        var c = CultureInfo.InvariantCulture;
        string text = $"step {p.Step}/{p.TotalSteps} loss {p.Loss.ToString("F3", c)} batch acc {p.BatchAccuracy.ToString("F3", c)} lr {p.LearningRate.ToString("G2", c)}";
        if (p.StepsPerSecond > 0) text += $" | {p.StepsPerSecond.ToString("F2", c)} it/s";
        if (p.Evaluation is { } e) text += " | " + string.Join(" ", e.Select(r => $"{r.Name} {r.Top1.ToString("F3", c)}/{r.Top5.ToString("F3", c)}"));
        return text;
    }
}
