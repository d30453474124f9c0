using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Vae;
using Latent.Vae.Training;
using Spectre.Console;

namespace Latent.Cli.Commands;

/// <summary><c>latent train vae</c>: trains an AutoencoderKL on an image folder and exports <c>OUT/vae/</c>.</summary>
public static class TrainVaeCommand
{
    static readonly VaeTrainingConfig Defaults = new();

    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl (its train split is trained on, its validation split validates).", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Run folder: configs, log.jsonl, checkpoints/, samples/ and at the end vae/.", Required = true };
    static readonly Option<bool> Resume = new("--resume") { Description = "Continue the run in --out from its newest checkpoint, with its saved configs." };
    static readonly Option<string> Preset = new("--preset")
    {
        Description = "Model size: light (32-64-64 channels, 1.3 M parameters, the 2-core choice), default (64-128-128, 5.1 M) or tiny (tests).",
        DefaultValueFactory = _ => "light",
        Validators = { OptionChecks.Rule<string>(v => ModelPreset(v) is null ? $"--preset must be light, default or tiny; got '{v}'." : null) },
    };
    static readonly Option<long> Steps = new("--steps") { Description = "Total optimizer steps.", DefaultValueFactory = _ => Defaults.Steps };
    static readonly Option<int> BatchSize = new("--batch-size") { Description = "Images per step.", DefaultValueFactory = _ => Defaults.BatchSize };
    static readonly Option<double> LearningRate = new("--lr") { Description = "Peak AdamW learning rate (warm-up, then cosine to 10%).", DefaultValueFactory = _ => Defaults.LearningRate };
    static readonly Option<long> Warmup = new("--warmup") { Description = "Warm-up steps.", DefaultValueFactory = _ => Defaults.WarmupSteps };
    static readonly Option<double> WeightDecay = new("--weight-decay") { Description = "AdamW weight decay (kernels only).", DefaultValueFactory = _ => Defaults.WeightDecay };
    static readonly Option<double> KlWeight = new("--kl-weight") { Description = "Weight of the KL term (SD: 1e-6).", DefaultValueFactory = _ => Defaults.KlWeight };
    static readonly Option<ReconstructionLoss> Loss = new("--loss") { Description = "Reconstruction loss: L1 or L2.", DefaultValueFactory = _ => Defaults.ReconstructionLoss };
    static readonly Option<long> DiscStart = new("--disc-start") { Description = "Step at which the PatchGAN discriminator switches on.", DefaultValueFactory = _ => Defaults.DiscriminatorStart };
    static readonly Option<double> DiscWeight = new("--disc-weight") { Description = "Weight of the adversarial term (0: no discriminator).", DefaultValueFactory = _ => Defaults.DiscriminatorWeight };
    static readonly Option<int> DiscChannels = new("--disc-channels") { Description = "Channels of the discriminator's first layer.", DefaultValueFactory = _ => Defaults.DiscriminatorChannels };
    static readonly Option<int> DiscLayers = new("--disc-layers") { Description = "Stride-2 layers of the PatchGAN (3: 6x6 patches at 64px; 2 for 16px images).", DefaultValueFactory = _ => Defaults.DiscriminatorLayers };
    static readonly Option<double> EmaDecay = new("--ema-decay") { Description = "Largest EMA decay (the export uses the EMA weights).", DefaultValueFactory = _ => Defaults.EmaDecay };
    static readonly Option<long> EvalEvery = new("--eval-every") { Description = "Validate (PSNR, SSIM) every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.EvalInterval };
    static readonly Option<long> GridEvery = new("--grid-every") { Description = "Save a reconstruction grid every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.GridInterval };
    static readonly Option<long> CheckpointEvery = new("--checkpoint-every") { Description = "Save a checkpoint every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.CheckpointInterval };
    static readonly Option<long> LogEvery = new("--log-every")
    {
        Description = "Write the averaged losses to log.jsonl every N steps.",
        DefaultValueFactory = _ => Defaults.LogInterval,
        Validators = { OptionChecks.Rule<long>(v => v < 1 ? $"--log-every must be at least 1; got {v}." : null) },
    };
    static readonly Option<ulong> Seed = new("--seed") { Description = "Seed of the weights, data order, flips and posterior samples.", DefaultValueFactory = _ => Defaults.Seed };
    static readonly Option<ExportPrecision> ExportDtype = new("--export-dtype") { Description = "Dtype of OUT/vae's weights: Float16, BFloat16 or Float32.", DefaultValueFactory = _ => Defaults.ExportPrecision };
    static readonly Option<bool> NoFlip = new("--no-flip") { Description = "Do not mirror training images." };
    static readonly Option<string> InitFrom = new("--init-from")
    {
        Description = "Start from the weights of a VAE folder (config.json + diffusion_pytorch_model.safetensors; e.g. a finished run's OUT/vae) " +
                      "with a fresh optimizer and schedule; its config replaces --preset.",
    };

    static readonly Option[] HyperParameters =
        [Preset, Steps, BatchSize, LearningRate, Warmup, WeightDecay, KlWeight, Loss, DiscStart, DiscWeight, DiscChannels, DiscLayers, EmaDecay,
         EvalEvery, GridEvery, CheckpointEvery, LogEvery, Seed, ExportDtype, NoFlip, InitFrom];

    /// <summary>Builds the command (registered as <c>latent train vae</c>).</summary>
    public static Command Create()
    {
        var command = new Command("vae", "Train a VAE (AutoencoderKL): L1/L2 + KL, an optional PatchGAN, AdamW, EMA; validation PSNR, grids, checkpoints, --resume; exports OUT/vae/ with the measured scaling factor.");
        command.Options.Add(Data);
        command.Options.Add(Out);
        command.Options.Add(Resume);
        command.Options.Add(DataOptions.SkipBad);
        command.Options.Add(DataParallelSession.CollectiveTimeout);
        foreach (var option in HyperParameters) command.Options.Add(option);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments and configs, before the engine starts.
        string data = parsed.GetValue(Data)!;
        string outDir = Path.GetFullPath(parsed.GetValue(Out)!);
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        var (model, training) = parsed.GetValue(Resume) ? SavedConfigs(parsed, outDir) : NewConfigs(parsed, outDir);

        // 2. The processes (one, or the ranks of mpiexec), data and trainer.
        using var session = DataParallelSession.Start(TimeSpan.FromSeconds(parsed.GetValue(DataParallelSession.CollectiveTimeout)));
        var parallel = session.Parallel;
        Latent.Core.Training.BatchShare.Of(training.BatchSize, parallel);   // a batch smaller than N fails before any work
        GlobalOptions.StartEngine(parsed);
        var trainSet = DataOptions.Read(parsed, data, training.TrainSplit);
        ImageFolderDataset? validationSet = DataOptions.ReadOptional(parsed, data, training.ValidationSplit);
        using var trainer = new VaeTrainer(model, training, trainSet, validationSet, outDir, parallel);
        long? resumed = parsed.GetValue(Resume) ? trainer.Resume() : null;
        foreach (string skipped in trainer.ResumeSkipped) Console.Error.WriteLine($"warning: {skipped}; resuming from the older checkpoint");
        Console.WriteLine($"training a VAE ({Parameters(trainer)} parameters, {model.SampleSize}px -> {model.LatentSize}x{model.LatentSize}x{model.LatentChannels}) " +
                          $"on {trainSet.Count} images, validating on {trainer.ValidationCount}" +
                          (validationSet is null ? " training images (no validation split)" : "") +
                          (resumed is null ? "" : $"; resumed at step {resumed}") + $"; run folder {outDir}");
        if (parallel.Size > 1) Console.WriteLine(session.Describe(training.BatchSize));

        // 3. Train, with Ctrl+C saving a checkpoint.
        VaeTrainingResult result = TrainingConsole.Run<VaeTrainingProgress, VaeTrainingResult>(training.Steps, trainer.Step,
            (progress, token) => trainer.Run(progress, cancellation: token),
            p => p.Step,
            p => p.Phase != VaeTrainingPhase.Training ? p.Phase.ToString().ToLowerInvariant() : p.Losses is { Skipped: true } ? "skipped" : null,
            Describe);

        // 4. Summary (rank 0: the others neither validate nor export, and print nothing).
        if (parallel.Rank != 0)
        {
            session.Complete();
            return 0;
        }
        string validation = result.Validation is { } v
            ? $"validation PSNR {v.Psnr.ToString("F2", CultureInfo.InvariantCulture)} dB, SSIM {v.Ssim.ToString("F4", CultureInfo.InvariantCulture)} on {v.Images} images"
            : "no validation yet";
        if (!result.Completed)
        {
            Console.WriteLine($"stopped at step {result.Step}/{training.Steps} ({validation}); continue with --resume --out {outDir}");
            session.Complete();
            return 0;
        }
        session.Complete();
        Console.WriteLine($"done: {result.Step} steps, {validation}; scaling_factor {result.ScalingFactor!.Value.ToString("G5", CultureInfo.InvariantCulture)}; " +
                          $"wrote {result.ExportDirectory} ({training.ExportPrecision}); log.jsonl, charts and samples/ in {outDir}");
        return 0;
    }

    static (VaeConfig, VaeTrainingConfig) NewConfigs(ParseResult parsed, string outDir)
    {
        if (Directory.Exists(Path.Combine(outDir, "checkpoints")) && Directory.EnumerateFiles(Path.Combine(outDir, "checkpoints"), "*.safetensors").Any())
            throw new ArgumentException($"--out '{outDir}' already holds a run (checkpoints/); pass --resume to continue it, or choose a new --out");
        var training = new VaeTrainingConfig
        {
            Steps = parsed.GetValue(Steps),
            BatchSize = parsed.GetValue(BatchSize),
            LearningRate = parsed.GetValue(LearningRate),
            WarmupSteps = parsed.GetValue(Warmup),
            WeightDecay = parsed.GetValue(WeightDecay),
            KlWeight = parsed.GetValue(KlWeight),
            ReconstructionLoss = parsed.GetValue(Loss),
            DiscriminatorStart = parsed.GetValue(DiscStart),
            DiscriminatorWeight = parsed.GetValue(DiscWeight),
            DiscriminatorChannels = parsed.GetValue(DiscChannels),
            DiscriminatorLayers = parsed.GetValue(DiscLayers),
            EmaDecay = parsed.GetValue(EmaDecay),
            EvalInterval = parsed.GetValue(EvalEvery),
            GridInterval = parsed.GetValue(GridEvery),
            LogInterval = parsed.GetValue(LogEvery),
            CheckpointInterval = parsed.GetValue(CheckpointEvery),
            Seed = parsed.GetValue(Seed),
            ExportPrecision = parsed.GetValue(ExportDtype),
            Augment = parsed.GetValue(NoFlip) ? Augmentations.None : Augmentations.HorizontalFlip,
        };
        training.Validate();
        if (parsed.GetValue(InitFrom) is not { } init)
            return (ModelPreset(parsed.GetValue(Preset)!)! with { ClassName = VaeConfig.ClassNameValue }, training);

        // Fine-tuning: the folder's architecture is the run's (its scaling factor is measured again at the end).
        if (parsed.GetResult(Preset) is { Implicit: false })
            throw new ArgumentException("--preset and --init-from both name the model; drop --preset (the --init-from folder's config.json is used)");
        string folder = Path.GetFullPath(init);
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"--init-from '{folder}' is not a VAE folder; expected config.json and {AutoencoderKL.WeightsFileName} in it");
        var saved = ConfigFile.Read<VaeConfig>(configPath, VaeConfig.ClassNameValue).Config;
        return (saved, training with { InitFrom = folder });
    }

    static (VaeConfig, VaeTrainingConfig) SavedConfigs(ParseResult parsed, string outDir)
    {
        var given = HyperParameters.Where(o => parsed.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new ArgumentException($"--resume continues with the configs saved in '{outDir}'; drop {string.Join(", ", given)} (or edit {VaeTrainer.TrainingConfigFileName} there)");
        string trainingPath = Path.Combine(outDir, VaeTrainer.TrainingConfigFileName);
        string modelPath = Path.Combine(outDir, VaeTrainer.ModelConfigFileName);
        if (!File.Exists(trainingPath) || !File.Exists(modelPath))
            throw new FileNotFoundException($"--resume: '{outDir}' holds no run to continue (no {VaeTrainer.TrainingConfigFileName} or {VaeTrainer.ModelConfigFileName})");
        var training = ConfigFile.Read<VaeTrainingConfig>(trainingPath).Config;
        var model = ConfigFile.Read<VaeConfig>(modelPath, VaeConfig.ClassNameValue).Config;
        return (model, training);
    }

    static VaeConfig? ModelPreset(string? name) => name?.ToLowerInvariant() switch
    {
        "light" => VaeConfig.Light,
        "default" => VaeConfig.Default,
        "tiny" => VaeConfig.Tiny,
        _ => null,
    };

    static string Parameters(VaeTrainer trainer) =>
        (trainer.Model.parameters().Sum(p => p.numel()) / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " M";

    /// <summary>One line: step, losses, speed, ETA and the last validation.</summary>
    internal static string Describe(VaeTrainingProgress p)
    {
        var c = CultureInfo.InvariantCulture;
        string text = $"step {p.Step}/{p.TotalSteps}";
        if (p.Losses is { } l)
        {
            text += $" rec {l.Reconstruction.ToString("F4", c)} kl {l.Kl.ToString("F2", c)}";
            if (l.AdaptiveWeight > 0) text += $" g {l.Generator.ToString("F3", c)} d {l.Discriminator.ToString("F3", c)}";
            text += $" lr {l.LearningRate.ToString("G2", c)}";
        }
        if (p.StepsPerSecond > 0) text += $" | {p.StepsPerSecond.ToString("F2", c)} it/s";
        if (p.Eta is { } eta) text += $" ETA {(int)eta.TotalHours}:{eta.Minutes:D2}:{eta.Seconds:D2}";
        if (p.Validation is { } v) text += $" | val {v.Psnr.ToString("F2", c)} dB";
        if (p.SkippedSteps > 0) text += $" | {p.SkippedSteps} skipped (non-finite loss or gradient)";
        if (p.Phase == VaeTrainingPhase.Exporting) text += " | exporting";
        return text;
    }
}
