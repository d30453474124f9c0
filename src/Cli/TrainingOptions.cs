using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Training;

namespace Latent.Cli;

/// <summary>
/// The options and checks that the <c>latent train</c> commands of the skeleton's trainers (vae, text-encoder, unet,
/// classifier) share: the run folder and <c>--resume</c>, the hyper-parameters of <see cref="TrainingConfig"/>,
/// <c>--init-from</c>, and the rules of a new run (no run in <c>--out</c> yet), a resumed one (its saved configs, no
/// hyper-parameters) and a fine-tuning one (no <c>--preset</c>).
/// </summary>
public sealed class TrainingOptions
{
    static string Text(double v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Builds the shared options with the defaults of a trainer's config.</summary>
    /// <param name="defaults">The trainer's default config (e.g. <c>new VaeTrainingConfig()</c>).</param>
    /// <param name="minBatch">The smallest batch and why (e.g. "2 (a contrastive batch needs negatives)").</param>
    /// <param name="batchUnit">What a batch holds ("Images per step.").</param>
    /// <param name="seeds">What the seed seeds ("Seed of the weights, data order, ...").</param>
    /// <param name="initFrom">What <c>--init-from</c> takes.</param>
    public TrainingOptions(TrainingConfig defaults, (int Value, string Text) minBatch, string batchUnit, string seeds, string initFrom)
    {
        Steps = new("--steps")
        {
            Description = "Total optimizer steps.",
            DefaultValueFactory = _ => defaults.Steps,
            Validators = { OptionChecks.Rule<long>(v => v < 1 ? $"--steps must be at least 1; got {v}." : null) },
        };
        BatchSize = new("--batch-size")
        {
            Description = batchUnit,
            DefaultValueFactory = _ => defaults.BatchSize,
            Validators = { OptionChecks.Rule<int>(v => v < minBatch.Value ? $"--batch-size must be at least {minBatch.Text}; got {v}." : null) },
        };
        LearningRate = new("--lr")
        {
            Description = "Peak AdamW learning rate (warm-up, then cosine to 10%).",
            DefaultValueFactory = _ => defaults.LearningRate,
            Validators = { OptionChecks.Rule<double>(v => !(v > 0) || double.IsInfinity(v) ? $"--lr must be a positive number; got {Text(v)}." : null) },
        };
        Warmup = new("--warmup")
        {
            Description = "Warm-up steps.",
            DefaultValueFactory = _ => defaults.WarmupSteps,
            Validators = { OptionChecks.Rule<long>(v => v < 0 ? $"--warmup must be 0 or more; got {v}." : null) },
        };
        WeightDecay = new("--weight-decay")
        {
            Description = "AdamW weight decay (kernels and matrices only).",
            DefaultValueFactory = _ => defaults.WeightDecay,
            Validators = { OptionChecks.Rule<double>(v => !(v >= 0) ? $"--weight-decay must be 0 or more; got {Text(v)}." : null) },
        };
        MaxGradNorm = new("--max-grad-norm")
        {
            Description = "Clip the total gradient norm (0: off).",
            DefaultValueFactory = _ => defaults.MaxGradNorm,
            Validators = { OptionChecks.Rule<double>(v => !(v >= 0) || double.IsInfinity(v) ? $"--max-grad-norm must be 0 or more; got {Text(v)}." : null) },
        };
        EmaDecay = new("--ema-decay")
        {
            Description = "Largest EMA decay (validation, samples and the export use the EMA weights).",
            DefaultValueFactory = _ => defaults.EmaDecay,
            Validators = { OptionChecks.Rule<double>(v => v is < 0 or > 1 or double.NaN ? $"--ema-decay must be in [0, 1]; got {Text(v)}." : null) },
        };
        CheckpointEvery = new("--checkpoint-every")
        {
            Description = "Save a checkpoint every N steps (0: when stopping only).",
            DefaultValueFactory = _ => defaults.CheckpointInterval,
            Validators = { OptionChecks.Rule<long>(v => v < 0 ? $"--checkpoint-every must be 0 or more; got {v}." : null) },
        };
        LogEvery = new("--log-every")
        {
            Description = "Write the averaged losses to log.jsonl every N steps.",
            DefaultValueFactory = _ => defaults.LogInterval,
            Validators = { OptionChecks.Rule<long>(v => v < 1 ? $"--log-every must be at least 1; got {v}." : null) },
        };
        Seed = new("--seed") { Description = seeds, DefaultValueFactory = _ => defaults.Seed };
        InitFrom = new("--init-from") { Description = initFrom };
    }

    /// <summary><c>--resume</c>: continue the run in <c>--out</c>.</summary>
    public Option<bool> Resume { get; } = new("--resume") { Description = "Continue the run in --out from its newest checkpoint, with its saved configs." };

    /// <summary><c>--steps</c>.</summary>
    public Option<long> Steps { get; }

    /// <summary><c>--batch-size</c>.</summary>
    public Option<int> BatchSize { get; }

    /// <summary><c>--lr</c>.</summary>
    public Option<double> LearningRate { get; }

    /// <summary><c>--warmup</c>.</summary>
    public Option<long> Warmup { get; }

    /// <summary><c>--weight-decay</c>.</summary>
    public Option<double> WeightDecay { get; }

    /// <summary><c>--max-grad-norm</c>.</summary>
    public Option<double> MaxGradNorm { get; }

    /// <summary><c>--ema-decay</c>.</summary>
    public Option<double> EmaDecay { get; }

    /// <summary><c>--checkpoint-every</c>.</summary>
    public Option<long> CheckpointEvery { get; }

    /// <summary><c>--log-every</c>.</summary>
    public Option<long> LogEvery { get; }

    /// <summary><c>--seed</c>.</summary>
    public Option<ulong> Seed { get; }

    /// <summary><c>--init-from</c>: a folder whose weights start the run.</summary>
    public Option<string> InitFrom { get; }

    /// <summary>The shared hyper-parameters (refused with <c>--resume</c>).</summary>
    public Option[] HyperParameters => [InitFrom, Steps, BatchSize, LearningRate, Warmup, WeightDecay, MaxGradNorm, EmaDecay, CheckpointEvery, LogEvery, Seed];

    /// <summary>The config with the shared hyper-parameters of the command line.</summary>
    public T Apply<T>(ParseResult parsed, T config) where T : TrainingConfig
    {
        TrainingConfig shared = config;
        return (T)(shared with
        {
            Steps = parsed.GetValue(Steps),
            BatchSize = parsed.GetValue(BatchSize),
            LearningRate = parsed.GetValue(LearningRate),
            WarmupSteps = parsed.GetValue(Warmup),
            WeightDecay = parsed.GetValue(WeightDecay),
            MaxGradNorm = parsed.GetValue(MaxGradNorm),
            EmaDecay = parsed.GetValue(EmaDecay),
            CheckpointInterval = parsed.GetValue(CheckpointEvery),
            LogInterval = parsed.GetValue(LogEvery),
            Seed = parsed.GetValue(Seed),
        });
    }

    /// <summary>A new run: <paramref name="outDir"/> must not hold one already.</summary>
    /// <exception cref="ArgumentException">It holds checkpoints.</exception>
    public static void RequireNewRun(string outDir)
    {
        string checkpoints = Path.Combine(outDir, "checkpoints");
        if (Directory.Exists(checkpoints) && Directory.EnumerateFiles(checkpoints, "*.safetensors").Any())
            throw new ArgumentException($"--out '{outDir}' already holds a run (checkpoints/); pass --resume to continue it, or choose a new --out");
    }

    /// <summary>
    /// A resumed run: no hyper-parameter on the command line (<paramref name="options"/>), and its saved training
    /// config and <paramref name="modelFiles"/> in <paramref name="outDir"/>; returns the training config, validated.
    /// </summary>
    /// <exception cref="ArgumentException">A hyper-parameter was given.</exception>
    /// <exception cref="FileNotFoundException">A saved config is missing.</exception>
    public static T SavedTraining<T>(ParseResult parsed, string outDir, IEnumerable<Option> options, params string[] modelFiles) where T : TrainingConfig
    {
        var given = options.Where(o => parsed.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new ArgumentException(
                $"--resume continues with the configs saved in '{outDir}'; drop {string.Join(", ", given)} (or edit {TrainingConfig.FileName} there)");
        string[] files = [TrainingConfig.FileName, .. modelFiles];
        if (!files.All(f => File.Exists(Path.Combine(outDir, f))))
            throw new FileNotFoundException($"--resume: '{outDir}' holds no run to continue (no {string.Join(" or ", files)})");
        var training = ConfigFile.Read<T>(Path.Combine(outDir, files[0])).Config;
        training.Validate();
        return training;
    }

    /// <summary>
    /// Fine-tuning: <c>--init-from</c>'s <c>config.json</c> is the model, so <c>--preset</c> may not name one; returns the
    /// folder's full path and its model config.
    /// </summary>
    /// <exception cref="ArgumentException">--preset was given too.</exception>
    /// <exception cref="FileNotFoundException">The folder has no config.json.</exception>
    public static (string Folder, TModel Model) InitialModel<TModel>(ParseResult parsed, string init, Option preset, string kind, string weightsFile, string className)
        where TModel : JsonConfig
    {
        if (parsed.GetResult(preset) is { Implicit: false })
            throw new ArgumentException("--preset and --init-from both name the model; drop --preset (the --init-from folder's config.json is used)");
        string folder = Path.GetFullPath(init);
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"--init-from '{folder}' is not a {kind} folder; expected config.json and {weightsFile} in it");
        return (folder, ConfigFile.Read<TModel>(configPath, className).Config);
    }
}
