using Latent.Core.Config;

namespace Latent.Judge.Training;

/// <summary>
/// Every hyper-parameter of a judge training run (<see cref="JudgeTrainer"/>), saved as <c>OUT/training_config.json</c>
/// and inside every checkpoint, so that a resumed run provably continues the same run. Keys are snake_case.
/// </summary>
/// <remarks>The defaults train the shipped judge on 2 shared cores in about half an hour (see docs/training/judge.md).</remarks>
public sealed record JudgeTrainingConfig : JsonConfig
{
    /// <summary>Total optimizer steps; the schedule ends and the export happens here.</summary>
    public long Steps { get; init; } = 1200;

    /// <summary>Images per step, each drawn from a different class as long as the class epoch lasts (class-balanced).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Peak AdamW rate. A GroupNorm ResNet this small trains fast and stably at 2e-3.</summary>
    public double LearningRate { get; init; } = 2e-3;

    /// <summary>Linear warm-up steps.</summary>
    public long WarmupSteps { get; init; } = 100;

    /// <summary>The cosine's floor as a fraction of the peak.</summary>
    public double MinLearningRateRatio { get; init; } = 0.02;

    /// <summary>Decoupled weight decay (kernels and matrices only): regularises ~2,000 classes with ~6 images each.</summary>
    public double WeightDecay { get; init; } = 0.05;

    /// <summary>Clip the total gradient norm to this (0: never).</summary>
    public double MaxGradNorm { get; init; } = 2.0;

    /// <summary>Label smoothing of the cross-entropy: keeps the logits calibrated for the Fréchet features and top-5.</summary>
    public double LabelSmoothing { get; init; } = 0.1;

    /// <summary>The EMA's largest decay; evaluation and the export use the EMA weights.</summary>
    public double EmaDecay { get; init; } = 0.998;

    /// <summary>Whether training images are distorted (<see cref="AugmentationOptions"/>' defaults). Off only for tests.</summary>
    public bool Augment { get; init; } = true;

    /// <summary>Evaluate on the validation split and the held-out vendor every N steps (0: at the end only).</summary>
    public long EvalInterval { get; init; } = 500;

    /// <summary>Save a checkpoint every N steps (0: at the end only).</summary>
    public long CheckpointInterval { get; init; } = 250;

    /// <summary>Checkpoints kept.</summary>
    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>Seeds the weights, the class order, the image choice and the augmentations.</summary>
    public ulong Seed { get; init; }

    /// <summary>A vendor (<c>source</c>) left out of training entirely and reported on its own, e.g. "openmoji"; null
    /// trains on every vendor.</summary>
    public string? HoldoutSource { get; init; }

    /// <summary>The split trained on.</summary>
    public string TrainSplit { get; init; } = "train";

    /// <summary>The split validated on.</summary>
    public string ValidationSplit { get; init; } = "validation";

    /// <summary>Channels per stage of the judge (see <see cref="JudgeConfig.BlockOutChannels"/>).</summary>
    public int[] BlockOutChannels { get; init; } = [48, 96, 192];

    /// <summary>The judge's cosine-classifier scale (see <see cref="JudgeConfig.CosineScale"/>; 0, the default: linear).</summary>
    public double CosineScale { get; init; }

    /// <summary>Input size of the judge.</summary>
    public int ImageSize { get; init; } = 64;

    /// <summary>Checks every value; the message names the key and what is expected.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        static void Require(bool ok, string message) { if (!ok) throw new ArgumentException("judge training config: " + message); }
        Require(Steps >= 1, $"steps is {Steps}; expected ≥ 1.");
        Require(BatchSize >= 1, $"batch_size is {BatchSize}; expected ≥ 1.");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), $"learning_rate is {LearningRate}; expected > 0.");
        Require(WarmupSteps >= 0 && WarmupSteps <= Steps, $"warmup_steps is {WarmupSteps}; expected in [0, steps = {Steps}].");
        Require(MinLearningRateRatio is >= 0 and <= 1, $"min_learning_rate_ratio is {MinLearningRateRatio}; expected in [0, 1].");
        Require(WeightDecay >= 0, $"weight_decay is {WeightDecay}; expected ≥ 0.");
        Require(MaxGradNorm >= 0, $"max_grad_norm is {MaxGradNorm}; expected ≥ 0.");
        Require(LabelSmoothing is >= 0 and < 1, $"label_smoothing is {LabelSmoothing}; expected in [0, 1).");
        Require(EmaDecay is >= 0 and < 1, $"ema_decay is {EmaDecay}; expected in [0, 1).");
        Require(EvalInterval >= 0, $"eval_interval is {EvalInterval}; expected ≥ 0.");
        Require(CheckpointInterval >= 0, $"checkpoint_interval is {CheckpointInterval}; expected ≥ 0.");
        Require(KeepCheckpoints >= 1, $"keep_checkpoints is {KeepCheckpoints}; expected ≥ 1.");
        Require(HoldoutSource is null || HoldoutSource.Trim().Length > 0, "holdout_source is empty; expected a vendor name or null.");
        Require(!string.IsNullOrWhiteSpace(TrainSplit) && !string.IsNullOrWhiteSpace(ValidationSplit), "train_split and validation_split must be names.");
        new JudgeConfig { ClassName = JudgeConfig.ClassNameValue, BlockOutChannels = BlockOutChannels, ImageSize = ImageSize }.Validate();
    }
}
