using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Training;
using Latent.Vae;
using Latent.Vae.Evaluation;
using Latent.Training.Vae;
using Spectre.Console;

namespace Latent.Cli.Commands;

/// <summary><c>latent train vae</c>: trains an AutoencoderKL on an image folder and exports <c>OUT/vae/</c>.</summary>
public static class TrainVaeCommand
{
    static readonly VaeTrainingConfig Defaults = new();

    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl (its train split is trained on, its validation split validates).", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Run folder: configs, log.jsonl, checkpoints/, samples/ and at the end vae/.", Required = true };
    static readonly Option<string> Preset = new("--preset")
    {
        Description = "Model size: light (32-64-64 channels, 1.3 M parameters, the 2-core choice), default (64-128-128, 5.1 M) or tiny (tests).",
        DefaultValueFactory = _ => "light",
        Validators = { OptionChecks.Rule<string>(v => ModelPreset(v) is null ? $"--preset must be light, default or tiny; got '{v}'." : null) },
    };
    static readonly Option<double> KlWeight = new("--kl-weight") { Description = "Weight of the KL term (SD: 1e-6).", DefaultValueFactory = _ => Defaults.KlWeight };
    static readonly Option<ReconstructionLoss> Loss = new("--loss") { Description = "Reconstruction loss: L1 or L2.", DefaultValueFactory = _ => Defaults.ReconstructionLoss };
    static readonly Option<long> DiscStart = new("--disc-start") { Description = "Step at which the PatchGAN discriminator switches on.", DefaultValueFactory = _ => Defaults.DiscriminatorStart };
    static readonly Option<double> DiscWeight = new("--disc-weight") { Description = "Weight of the adversarial term (0: no discriminator).", DefaultValueFactory = _ => Defaults.DiscriminatorWeight };
    static readonly Option<int> DiscChannels = new("--disc-channels") { Description = "Channels of the discriminator's first layer.", DefaultValueFactory = _ => Defaults.DiscriminatorChannels };
    static readonly Option<int> DiscLayers = new("--disc-layers") { Description = "Stride-2 layers of the PatchGAN (3: 6x6 patches at 64px; 2 for 16px images).", DefaultValueFactory = _ => Defaults.DiscriminatorLayers };
    static readonly Option<long> EvalEvery = new("--eval-every") { Description = "Validate (PSNR, SSIM) every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.EvalInterval };
    static readonly Option<long> GridEvery = new("--grid-every") { Description = "Save a reconstruction grid every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.GridInterval };
    static readonly Option<ExportPrecision> ExportDtype = new("--export-dtype") { Description = "Dtype of OUT/vae's weights: Float16, BFloat16 or Float32.", DefaultValueFactory = _ => Defaults.ExportPrecision };
    static readonly Option<bool> NoFlip = new("--no-flip") { Description = "Do not mirror training images." };
    static readonly Option<bool> DecoderOnly = new("--decoder-only")
    {
        Description = "Fine-tune only the decoder of the --init-from VAE: its encoder, latent space and scaling factor stay as they are, so U-Nets trained on it keep working.",
    };

    static readonly TrainingOptions Common = new(Defaults, (1, "1"), "Images per step.",
        "Seed of the weights, data order, flips and posterior samples.",
        "Start from the weights of a VAE folder (config.json + diffusion_pytorch_model.safetensors; e.g. a finished run's OUT/vae) " +
        "with a fresh optimizer and schedule; its config replaces --preset.");

    static readonly Option[] HyperParameters =
        [Preset, KlWeight, Loss, DiscStart, DiscWeight, DiscChannels, DiscLayers, EvalEvery, GridEvery, ExportDtype, NoFlip, DecoderOnly, .. Common.HyperParameters];

    /// <summary>Builds the command (registered as <c>latent train vae</c>).</summary>
    public static Command Create()
    {
        var command = new Command("vae", "Train a VAE (AutoencoderKL): L1/L2 + KL, an optional PatchGAN, AdamW, EMA; validation PSNR, grids, checkpoints, --resume; exports OUT/vae/ with the measured scaling factor.");
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
        // 1. Arguments and configs, before the engine starts.
        string data = parsed.GetValue(Data)!;
        string outDir = Path.GetFullPath(parsed.GetValue(Out)!);
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        var (model, training) = parsed.GetValue(Common.Resume) ? SavedConfigs(parsed, outDir) : NewConfigs(parsed, outDir);

        // 2. The processes (one, or the ranks of mpiexec), data and trainer.
        using var session = DataParallelSession.Start(TimeSpan.FromSeconds(parsed.GetValue(DataParallelSession.CollectiveTimeout)));
        var parallel = session.Parallel;
        BatchShare.Of(training.BatchSize, parallel);   // a batch smaller than N fails before any work
        GlobalOptions.StartEngine(parsed);
        var trainSet = DataOptions.Read(parsed, data, training.TrainSplit);
        ImageFolderDataset? validationSet = DataOptions.ReadOptional(parsed, data, training.ValidationSplit);
        using var trainer = new VaeTrainer(model, training, trainSet, validationSet, outDir, parallel);
        long? resumed = parsed.GetValue(Common.Resume) ? trainer.Resume() : null;
        foreach (string skipped in trainer.ResumeSkipped) Console.Error.WriteLine($"warning: {skipped}; resuming from the older checkpoint");
        Console.WriteLine($"training a VAE ({Parameters(trainer)} parameters, {model.SampleSize}px -> {model.LatentSize}x{model.LatentSize}x{model.LatentChannels}) " +
                          $"on {trainSet.Count} images, validating on {trainer.ValidationCount}" +
                          (validationSet is null ? " training images (no validation split)" : "") +
                          (resumed is null ? "" : $"; resumed at step {resumed}") + $"; run folder {outDir}");
        if (parallel.Size > 1) Console.WriteLine(session.Describe(training.BatchSize));

        // 3. Train, with Ctrl+C saving a checkpoint.
        VaeTrainingResult result = TrainingConsole.Run<VaeStepLosses, VaeTrainingResult>(training.Steps, trainer.Step,
            (progress, token) => trainer.Run(progress, cancellation: token), p => Describe(p, trainer.LastValidation));

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
        TrainingOptions.RequireNewRun(outDir);
        var training = Common.Apply(parsed, new VaeTrainingConfig
        {
            KlWeight = parsed.GetValue(KlWeight),
            ReconstructionLoss = parsed.GetValue(Loss),
            DiscriminatorStart = parsed.GetValue(DiscStart),
            DiscriminatorWeight = parsed.GetValue(DiscWeight),
            DiscriminatorChannels = parsed.GetValue(DiscChannels),
            DiscriminatorLayers = parsed.GetValue(DiscLayers),
            EvalInterval = parsed.GetValue(EvalEvery),
            GridInterval = parsed.GetValue(GridEvery),
            ExportPrecision = parsed.GetValue(ExportDtype),
            Augment = parsed.GetValue(NoFlip) ? Augmentations.None : Augmentations.HorizontalFlip,
            DecoderOnly = parsed.GetValue(DecoderOnly),
        });
        if (parsed.GetValue(Common.InitFrom) is not { } init)
        {
            if (training.DecoderOnly)
                throw new ArgumentException("--decoder-only fine-tunes a trained VAE's decoder; expected --init-from with its folder (e.g. weights/emoji-64/vae)");
            training.Validate();
            return (ModelPreset(parsed.GetValue(Preset)!)! with { ClassName = VaeConfig.ClassNameValue }, training);
        }

        // Fine-tuning: the folder's architecture is the run's (its scaling factor is measured again at the end, unless
        // only the decoder is trained).
        var (folder, saved) = TrainingOptions.InitialModel<VaeConfig>(parsed, init, Preset, "VAE", AutoencoderKL.WeightsFileName, VaeConfig.ClassNameValue);
        training = training with { InitFrom = folder };
        training.Validate();
        return (saved, training);
    }

    static (VaeConfig, VaeTrainingConfig) SavedConfigs(ParseResult parsed, string outDir)
    {
        var training = TrainingOptions.SavedTraining<VaeTrainingConfig>(parsed, outDir, HyperParameters, VaeTrainer.ModelConfigFileName);
        var model = ConfigFile.Read<VaeConfig>(Path.Combine(outDir, VaeTrainer.ModelConfigFileName), VaeConfig.ClassNameValue).Config;
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
    internal static string Describe(TrainingProgress<VaeStepLosses> p, VaeEvaluation? validation)
    {
        var c = CultureInfo.InvariantCulture;
        return TrainingConsole.Describe(p,
            l => $"rec {l.Reconstruction.ToString("F4", c)} kl {l.Kl.ToString("F2", c)}" +
                 (l.AdaptiveWeight > 0 ? $" g {l.Generator.ToString("F3", c)} d {l.Discriminator.ToString("F3", c)}" : "") +
                 $" lr {l.LearningRate.ToString("G2", c)}",
            validation is { } v ? $"val {v.Psnr.ToString("F2", c)} dB" : null);
    }
}
