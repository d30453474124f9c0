using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.Core.Training;
using Latent.Schedulers;
using Latent.Training.UNet;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using Spectre.Console;

namespace Latent.Cli.Commands;

/// <summary><c>latent train unet</c>: trains the text-conditioned U-Net on cached latents and exports a diffusers pipeline folder.</summary>
public static class TrainUNetCommand
{
    static readonly UNetTrainingConfig Defaults = new();

    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl (its train split is trained on; every caption of an image is used).", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Run folder: configs, cache/, log.jsonl, checkpoints/, samples/ and at the end a complete diffusers pipeline.", Required = true };
    static readonly Option<string> Vae = new("--vae") { Description = "The frozen VAE's folder (diffusers AutoencoderKL, e.g. OUT/vae of `latent train vae`).", Required = true };
    static readonly Option<string> TextEncoderDir = new("--text-encoder") { Description = "The frozen text encoder's folder (transformers CLIPTextModel).", Required = true };
    static readonly Option<string> TokenizerDir = new("--tokenizer") { Description = "The tokenizer's folder (vocab.json, merges.txt).", Required = true };
    static readonly Option<string> Preset = new("--preset")
    {
        Description = "U-Net size: default (22.6M parameters, SD 1.x layout) or tiny (tests); cross_attention_dim and sample_size follow the text encoder and the latents.",
        DefaultValueFactory = _ => "default",
        Validators = { OptionChecks.Rule<string>(v => ModelPreset(v) is null ? $"--preset must be default or tiny; got '{v}'." : null) },
    };
    static readonly Option<double> CaptionDropoutRate = new("--caption-dropout")
    {
        Description = "Probability of training on the empty prompt instead of the caption (classifier-free guidance).",
        DefaultValueFactory = _ => Defaults.CaptionDropout,
        Validators = { OptionChecks.Rule<double>(v => v is >= 0 and <= 1 ? null : $"--caption-dropout must be in [0, 1]; got {v.ToString(CultureInfo.InvariantCulture)}.") },
    };
    static readonly Option<string> Prediction = new("--prediction")
    {
        Description = "What the U-Net predicts: epsilon or v_prediction.",
        DefaultValueFactory = _ => "epsilon",
        Validators = { OptionChecks.Rule<string>(v => ParsePrediction(v) is null ? $"--prediction must be epsilon or v_prediction; got '{v}'." : null) },
    };
    static readonly Option<double> MinSnrGamma = new("--min-snr-gamma") { Description = "γ of min-SNR loss weighting (0: off).", DefaultValueFactory = _ => Defaults.MinSnrGamma };
    static readonly Option<double> NoiseOffset = new("--noise-offset") { Description = "Per-channel noise offset (0: off; 0.05-0.1 for very dark or bright images).", DefaultValueFactory = _ => Defaults.NoiseOffset };
    static readonly Option<long> SampleEvery = new("--sample-every") { Description = "Save a grid of samples every N steps (0: at the end only).", DefaultValueFactory = _ => Defaults.SampleInterval };
    static readonly Option<string[]> Prompts = new("--prompt") { Description = "A validation prompt of the sample grids (repeat the option for several).", AllowMultipleArgumentsPerToken = false };
    static readonly Option<ExportPrecision> ExportDtype = new("--export-dtype") { Description = "Dtype of the exported weights: Float16, BFloat16 or Float32.", DefaultValueFactory = _ => Defaults.ExportPrecision };
    static readonly Option<string> MixedPrecisionOption = new("--mixed-precision")
    {
        Description = "Compute dtype of the U-Net's forward and backward: no (float32) or bf16 (a bf16 copy computes; weights, optimizer, EMA and " +
                      "checkpoints stay float32; refused where this CPU's bf16 kernels are inaccurate). docs/training/mixed-precision.md",
        DefaultValueFactory = _ => "no",
        Validators = { OptionChecks.Rule<string>(v => ParseMixedPrecision(v) is null ? $"--mixed-precision must be no or bf16; got '{v}'." : null) },
    };



    static readonly TrainingOptions Common = new(Defaults, (1, "1"), "Latents per step.",
        "Seed of the weights, data order, caption choices, noise and grids.",
        "Start from this U-Net folder's weights (config.json + diffusion_pytorch_model.safetensors, e.g. OUT/unet of an earlier run) " +
        "with a fresh schedule: fine-tuning, or training a finished run longer. Its config.json is the model (no --preset).");

    // Issue 19: half the emoji images are skin-tone variants of ~400 emoji; balancing by base gives every emoji its share.
    static readonly Option<string> BalanceBy = new("--balance-by")
    {
        Description = "Give every group of images the same share of the steps, grouped by this metadata field (e.g. base: the emoji without " +
                      "skin tones, which `latent data emoji` writes). Default: every image once an epoch.",
    };

    // Issue 25: improved DDPM's learned variance.
    static readonly Option<bool> LearnedVariance = new("--learned-variance")
    {
        Description = "Predict the reverse-process variance too (improved DDPM): 2C output channels, L_hybrid = L_simple + 0.001 L_vlb, and the exported " +
                      "scheduler is DDPM with variance_type learned_range. With --init-from a C-channel U-Net, conv_out gains C zero channels (v = 0).",
    };

    static readonly Option[] HyperParameters =
        [Preset, LearnedVariance, BalanceBy, CaptionDropoutRate, Prediction, MinSnrGamma, NoiseOffset, SampleEvery, Prompts, ExportDtype, MixedPrecisionOption, .. Common.HyperParameters];

    /// <summary>Builds the command (registered as <c>latent train unet</c>).</summary>
    public static Command Create()
    {
        var command = new Command("unet", "Train the text-conditioned U-Net on latents of a frozen VAE and text encoder (cached on disk): caption dropout, " +
                                          "epsilon/v, min-SNR, EMA, sample grids, checkpoints, --resume; OUT becomes a diffusers pipeline folder. " +
                                          "Under `mpiexec -n N` it trains data-parallel on N processes (docs/training/distributed.md).");
        foreach (var option in new Option[] { Data, Out, Vae, TextEncoderDir, TokenizerDir, Common.Resume, DataOptions.SkipBad, DataParallelSession.CollectiveTimeout }) command.Options.Add(option);
        foreach (var option in HyperParameters) command.Options.Add(option);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments and configs, before the engine starts.
        string data = parsed.GetValue(Data)!;
        string outDir = Path.GetFullPath(parsed.GetValue(Out)!);
        foreach (var (option, dir) in new[] { (Data, data), (Vae, parsed.GetValue(Vae)!), (TextEncoderDir, parsed.GetValue(TextEncoderDir)!), (TokenizerDir, parsed.GetValue(TokenizerDir)!) })
            if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{option.Name} folder '{Path.GetFullPath(dir)}' does not exist");
        var (preset, training) = parsed.GetValue(Common.Resume) ? SavedConfigs(parsed, outDir) : NewConfigs(parsed, outDir);

        // 2. The processes (one, or the ranks of mpiexec), frozen models, data and cache. Rank 0 encodes the cache while
        //    the others wait (without a timeout: encoding takes as long as the data set needs), then they read it.
        using var session = DataParallelSession.Start(TimeSpan.FromSeconds(parsed.GetValue(DataParallelSession.CollectiveTimeout)));
        var parallel = session.Parallel;
        BatchShare.Of(training.BatchSize, parallel);   // a batch smaller than N fails before any work
        GlobalOptions.StartEngine(parsed);
        using var vae = AutoencoderKL.FromPretrained(parsed.GetValue(Vae)!);
        using var textEncoder = ClipTextModel.FromPretrained(parsed.GetValue(TextEncoderDir)!);
        var tokenizer = ClipTokenizer.FromPretrained(parsed.GetValue(TokenizerDir)!);
        var trainSet = DataOptions.Read(parsed, data, training.TrainSplit);
        var size = new ImageSize(vae.Config.SampleSize, vae.Config.SampleSize);
        Console.WriteLine($"caching latents and text states of {trainSet.Count} images in {Path.Combine(outDir, "cache")}");
        LatentCache BuildCache() => LatentCache.Build(Path.Combine(outDir, "cache"), trainSet, size, vae, textEncoder, tokenizer,
            progress: new SyncProgress<LatentCacheProgress>(p => { if (p.Done == p.Total) Console.WriteLine($"  encoded {p.Total} {p.Part}"); }));
        LatentCache? built = parallel.Rank == 0 ? BuildCache() : null;
        parallel.Barrier("the latent cache (rank 0 encodes it)", Timeout.InfiniteTimeSpan);
        using var cache = built ?? BuildCache();
        if (cache.EncodedImages == 0 && cache.EncodedCaptions == 0) Console.WriteLine("  reused the cache (models and data unchanged)");
        // A new run's U-Net takes the text encoder's width and the latents' size; a resumed run keeps its saved config.
        var model = parsed.GetValue(Common.Resume) ? preset : preset with
        {
            CrossAttentionDim = (int)cache.TextShape[1],
            SampleSize = (int)cache.LatentShape[1],
            OutChannels = LearnedVarianceTraining.OutChannels(training, cache.LatentShape[0]),   // 2C with --learned-variance
        };
        using var trainer = new UNetTrainer(model, training, cache, vae, textEncoder, tokenizer, outDir, parallel);
        long? resumed = parsed.GetValue(Common.Resume) ? trainer.Resume() : null;
        foreach (string skipped in trainer.ResumeSkipped) Console.Error.WriteLine($"warning: {skipped}; resuming from the older checkpoint");
        long parameters = trainer.Model.parameters().Sum(p => p.numel());
        Console.WriteLine($"training a U-Net ({(parameters / 1e6).ToString("F1", CultureInfo.InvariantCulture)} M parameters) on {cache.Count} images " +
                          $"({cache.Captions.Count} captions), latents {string.Join("x", cache.LatentShape)}" +
                          (resumed is null ? "" : $"; resumed at step {resumed}") + $"; run folder {outDir}");
        if (parallel.Size > 1) Console.WriteLine(session.Describe(training.BatchSize));
        if (training.MixedPrecision == MixedPrecision.BFloat16) Console.WriteLine("mixed precision: bf16 compute on float32 master weights");

        // 3. Train, with Ctrl+C saving a checkpoint.
        UNetTrainingResult result = TrainingConsole.Run<UNetStepResult, UNetTrainingResult>(training.Steps, trainer.Step,
            (progress, token) => trainer.Run(progress, cancellation: token), Describe);

        // 4. Summary.
        session.Complete();
        if (parallel.Size > 1 && result.Step > 0)
            Console.WriteLine($"rank 0 spent {parallel.CollectiveTime.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s in collective calls " +
                              "(all-reduce of gradients, loss and stop flag, waiting for the slowest rank included)");
        string loss = double.IsFinite(result.LastLoss) ? result.LastLoss.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
        if (!result.Completed)
        {
            Console.WriteLine($"stopped at step {result.Step}/{training.Steps} (loss {loss}); continue with --resume --out {outDir}");
            return 0;
        }
        Console.WriteLine($"done: {result.Step} steps, loss {loss}; {outDir} is a diffusers pipeline (unet/ with the EMA weights in " +
                          $"{training.ExportPrecision}, scheduler/, vae/, text_encoder/, tokenizer/, model_index.json); log.jsonl, loss.png and samples/ beside");
        return 0;
    }

    static (UNetConfig, UNetTrainingConfig) NewConfigs(ParseResult parsed, string outDir)
    {
        TrainingOptions.RequireNewRun(outDir);
        string[] prompts = parsed.GetValue(Prompts) ?? [];
        var training = Common.Apply(parsed, new UNetTrainingConfig
        {
            CaptionDropout = parsed.GetValue(CaptionDropoutRate),
            PredictionType = ParsePrediction(parsed.GetValue(Prediction)!)!.Value,
            MinSnrGamma = parsed.GetValue(MinSnrGamma),
            NoiseOffset = parsed.GetValue(NoiseOffset),
            SampleInterval = parsed.GetValue(SampleEvery),
            ExportPrecision = parsed.GetValue(ExportDtype),
            VarianceType = parsed.GetValue(LearnedVariance) ? VarianceType.LearnedRange : null,
            MixedPrecision = ParseMixedPrecision(parsed.GetValue(MixedPrecisionOption)!)!.Value,
            BalanceBy = parsed.GetValue(BalanceBy),
        });
        if (prompts.Length > 0) training = training with { ValidationPrompts = prompts };
        training.Validate();
        if (parsed.GetValue(Common.InitFrom) is not { } init)
            return (ModelPreset(parsed.GetValue(Preset)!)!, training);

        // Continuing or fine-tuning: the folder's architecture is the run's.
        var (folder, saved) = TrainingOptions.InitialModel<UNetConfig>(parsed, init, Preset, "U-Net", UNet2DConditionModel.WeightsFileName, UNetConfig.ClassNameValue);
        return (saved with { DiffusersVersion = null }, training with { InitFrom = folder });
    }

    static (UNetConfig, UNetTrainingConfig) SavedConfigs(ParseResult parsed, string outDir)
    {
        var training = TrainingOptions.SavedTraining<UNetTrainingConfig>(parsed, outDir, HyperParameters, UNetTrainer.ModelConfigFileName);
        return (ConfigFile.Read<UNetConfig>(Path.Combine(outDir, UNetTrainer.ModelConfigFileName), UNetConfig.ClassNameValue).Config, training);
    }

    static MixedPrecision? ParseMixedPrecision(string value) => value switch
    {
        "no" => MixedPrecision.No,
        "bf16" => MixedPrecision.BFloat16,
        _ => null,
    };

    static UNetConfig? ModelPreset(string? name) => name?.ToLowerInvariant() switch
    {
        "default" => UNetConfig.Default,
        "tiny" => UNetConfig.Tiny,
        _ => null,
    };

    static PredictionType? ParsePrediction(string? name) => name?.ToLowerInvariant() switch
    {
        "epsilon" => PredictionType.Epsilon,
        "v_prediction" or "v" => PredictionType.VPrediction,
        _ => null,
    };

    /// <summary>One line: step, loss, learning rate, speed, ETA and the grid just drawn.</summary>
    internal static string Describe(TrainingProgress<UNetStepResult> p) =>
        TrainingConsole.Describe(p, l => $"loss {l.Loss.ToString("F4", CultureInfo.InvariantCulture)} lr {l.LearningRate.ToString("G2", CultureInfo.InvariantCulture)}");
}
