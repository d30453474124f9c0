using Latent.Core.Config;

namespace Latent.Core.Training;

/// <summary>
/// The hyper-parameters every trainer shares (<see cref="Trainer{TStep}"/>): the length of the run, AdamW with warm-up
/// and cosine decay, clipping, EMA, the seed, the starting weights and the cadence of logs and checkpoints. Each
/// trainer's config derives from it, sets its own defaults in its constructor (saying why there) and adds its own keys;
/// the whole record is saved as <c>OUT/training_config.json</c> and inside every checkpoint, so that a resumed run
/// provably continues the same run. Keys are the snake_case names.
/// </summary>
public abstract record TrainingConfig : JsonConfig
{
    /// <summary>The training config's file name in a run folder.</summary>
    public const string FileName = "training_config.json";

    /// <summary>Total optimizer steps; the learning-rate schedule ends here and the export happens after it.</summary>
    public long Steps { get; init; }

    /// <summary>Samples per step (the global batch: with N ranks each takes its share).</summary>
    public int BatchSize { get; init; }

    /// <summary>Peak AdamW learning rate.</summary>
    public double LearningRate { get; init; }

    /// <summary>Steps of linear warm-up from 0: lets Adam's second moments settle before full-size steps.</summary>
    public long WarmupSteps { get; init; }

    /// <summary>The cosine decay's floor as a fraction of the peak (10%: the last steps still learn).</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; }

    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; }

    /// <summary>Decoupled weight decay, for kernels and matrices only (biases and norms never decay).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Clip the total gradient norm to this (0: no clipping); guards against a bad batch's spike. A step whose
    /// loss or gradient is not finite is skipped.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>The EMA's largest decay; validation, samples and the exported weights are the EMA's. Ramped up from 0 by
    /// diffusers' warm-up 1 − (1 + s)^(−2/3), so a short run is not dragged back to its random start.</summary>
    public double EmaDecay { get; init; }

    /// <summary>Seeds the initial weights, the data order and every random draw of a step.</summary>
    public ulong Seed { get; init; }

    /// <summary>A folder of the trained model (see each trainer) whose weights start the run instead of the seeded
    /// initialisation: fine-tuning, or continuing a finished run with a fresh learning-rate schedule. Null: train from
    /// scratch. Its architecture must equal the run's. A resumed run takes its weights from the checkpoint and never
    /// reads this folder again.</summary>
    public string? InitFrom { get; init; }

    /// <summary>Save a checkpoint every this many steps (and always when the run stops); 0: only then.</summary>
    public long CheckpointInterval { get; init; }

    /// <summary>How many checkpoints to keep (older ones are deleted).</summary>
    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>Write averaged losses to <c>log.jsonl</c> every this many steps.</summary>
    public long LogInterval { get; init; } = 25;

    /// <summary>The split of the data folder to train on.</summary>
    public string TrainSplit { get; init; } = "train";

    /// <summary>The config's name in error messages (e.g. "VAE training config").</summary>
    protected abstract string ConfigName { get; }

    /// <summary>The smallest batch the objective works with, and how an error states it.</summary>
    protected virtual (int Min, string Expected) BatchSizeRule => (1, ">= 1");

    /// <summary>Checks every value: the shared ones here, then the trainer's own (<see cref="ValidateOwn"/>).</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it, its value and the range.</exception>
    public void Validate()
    {
        Check(Steps >= 1, "steps", Steps, ">= 1");
        Check(BatchSize >= BatchSizeRule.Min, "batch_size", BatchSize, BatchSizeRule.Expected);
        Check(LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", LearningRate, "> 0");
        Check(WarmupSteps >= 0 && WarmupSteps <= Steps, "warmup_steps", WarmupSteps, $"in [0, steps = {Steps}]");
        Check(MinLearningRateRatio is >= 0 and <= 1, "min_learning_rate_ratio", MinLearningRateRatio, "in [0, 1]");
        Check(Beta1 is >= 0 and < 1, "beta1", Beta1, "in [0, 1)");
        Check(Beta2 is >= 0 and < 1, "beta2", Beta2, "in [0, 1)");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), "weight_decay", WeightDecay, ">= 0");
        Check(MaxGradNorm >= 0 && double.IsFinite(MaxGradNorm), "max_grad_norm", MaxGradNorm, ">= 0 (0: off)");
        Check(EmaDecay is >= 0 and <= 1, "ema_decay", EmaDecay, "in [0, 1]");
        Check(CheckpointInterval >= 0, "checkpoint_interval", CheckpointInterval, ">= 0");
        Check(KeepCheckpoints >= 1, "keep_checkpoints", KeepCheckpoints, ">= 1");
        Check(LogInterval >= 1, "log_interval", LogInterval, ">= 1");
        Check(!string.IsNullOrWhiteSpace(TrainSplit), "train_split", TrainSplit, "a split name such as \"train\"");
        ValidateOwn();
    }

    /// <summary>Checks the trainer's own keys (with <see cref="Check"/>).</summary>
    protected abstract void ValidateOwn();

    /// <summary>Throws when <paramref name="ok"/> is false: "{config}: {key} is {value}; expected {expected}."</summary>
    /// <exception cref="ArgumentException">Always, when not <paramref name="ok"/>.</exception>
    protected void Check(bool ok, string key, object? value, string expected)
    {
        if (!ok) throw new ArgumentException($"{ConfigName}: {key} is {value}; expected {expected}.", key);
    }
}
