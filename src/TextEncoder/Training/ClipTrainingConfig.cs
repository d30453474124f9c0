using Latent.Core.Config;

namespace Latent.TextEncoder.Training;

/// <summary>
/// Every hyper-parameter of a contrastive text-encoder run (<see cref="ClipTrainer"/>), saved as
/// <c>OUT/training_config.json</c> and inside every checkpoint, so that a resumed run provably continues the same run.
/// Keys are the snake_case names.
/// </summary>
/// <remarks>
/// <para>The objective is CLIP's symmetric InfoNCE over a batch of (caption, image) pairs with the temperature multiplier
/// exp(logit_scale), learned and clamped to ≤ <see cref="MaxLogitScale"/> after every step (CLIP's ln 100), with the
/// in-batch false negatives masked (see <see cref="ClipContrastiveLoss"/>): the same emoji in another source's style,
/// or another image with the very same caption, is neither a positive nor a negative.</para>
/// <para>Each image's caption is drawn per step from its captions and <see cref="CaptionTemplates"/> (a pure function of
/// seed, step and slot, see <see cref="ClipCaptionSampler"/>), so a resumed run sees the same captions.</para>
/// </remarks>
public sealed record ClipTrainingConfig : JsonConfig
{
    /// <summary>Total optimizer steps; the cosine schedule ends here and the export follows. 4000 steps of 128 pairs
    /// are ~45 epochs of the 11.5k emoji training images: the encoder has to learn ~4.7k names from scratch and map
    /// each to every style of its emoji, which takes tens of epochs. Cost: at the 8.8 samples/s measured on 2 loaded
    /// cores (Default text + Default tower, fp32, B = 128) this is ~16 hours; on an idle 2-core machine expect 2-3x
    /// less. Shorter runs validate on the way (see <see cref="EvalInterval"/>) and resume.</summary>
    public long Steps { get; init; } = 4000;

    /// <summary>Pairs per step, B. Every other pair of the batch is a negative, so a larger batch gives a harder, better
    /// objective (CLIP used 32k). 128, because the cost per pair falls with B on a CPU: measured 5.3 samples/s at
    /// B = 64 and 8.8 at B = 128 (Default text + Default tower, fp32, 2 heavily loaded cores).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Peak AdamW learning rate. 5e-4 is CLIP's rate (for ViT-B/32); our towers are far smaller and it is stable.</summary>
    public double LearningRate { get; init; } = 5e-4;

    /// <summary>Steps of linear warm-up from 0 (CLIP warms up for 2000 of 32 epochs); lets Adam's moments settle.</summary>
    public long WarmupSteps { get; init; } = 200;

    /// <summary>The cosine decay's floor as a fraction of the peak (10%: the last steps still learn).</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>AdamW β1 (0.9, CLIP).</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2 (0.98, CLIP: a shorter second-moment memory is more stable for transformers at large rates).</summary>
    public double Beta2 { get; init; } = 0.98;

    /// <summary>AdamW ε (1e-6, CLIP).</summary>
    public double Epsilon { get; init; } = 1e-6;

    /// <summary>Decoupled weight decay for matrices and kernels only (biases, norms, logit_scale never decay); CLIP's 0.2
    /// halved because our runs are short.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Clip the total gradient norm to this (0: no clipping); guards against a bad batch's spike.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Upper clamp of logit_scale after every step: ln 100, as CLIP, so exp(logit_scale) ≤ 100 and the softmax
    /// cannot collapse into a one-hot that stops the gradients.</summary>
    public double MaxLogitScale { get; init; } = Math.Log(100);

    /// <summary>Largest EMA decay; the exported weights and every validation use the EMA (ramped with diffusers' warm-up).</summary>
    public double EmaDecay { get; init; } = 0.999;

    /// <summary>Caption templates, each with one <c>{caption}</c> slot and optionally <c>{a}</c> (the article "a"/"an" for
    /// the caption); one is drawn uniformly per pair and step. See <see cref="CaptionTemplates.Default"/>.</summary>
    public string[] Templates { get; init; } = [.. CaptionTemplates.Default];

    /// <summary>The metadata field that identifies an emoji across renderings (ours: <c>unified</c>, the code points).
    /// Pairs with equal keys are masked as false negatives; records without it fall back to their first caption.</summary>
    public string KeyField { get; init; } = "unified";

    /// <summary>The metadata field whose value is the class of the zero-shot evaluation (ours: <c>category</c>).</summary>
    public string CategoryField { get; init; } = "category";

    /// <summary>The zero-shot prompt for a class, with a <c>{caption}</c> slot for the class name (the "an emoji of {category}").</summary>
    public string ZeroShotTemplate { get; init; } = "an emoji of {caption}";

    /// <summary>Seeds the initial weights, the data order and the caption/template draws.</summary>
    public ulong Seed { get; init; }

    /// <summary>A folder with <c>text_encoder/</c> and <c>image_encoder/</c> (the OUT of an earlier run, or a pipeline
    /// folder that keeps its image tower, as <c>weights/emoji-64</c>) whose CLIP starts the run instead of the seeded
    /// initialisation (fine-tuning, or continuing a finished run with a fresh schedule); null: train from scratch. Every
    /// weight must exist with the run's shape, and the run's tokenizer must be that folder's. A resumed run takes its
    /// weights from the checkpoint and never reads this folder again.</summary>
    public string? InitFrom { get; init; }

    /// <summary>Validate (recall@1/5 both ways and zero-shot accuracy, with the EMA weights) every this many steps and at
    /// the end; 0: only at the end.</summary>
    public long EvalInterval { get; init; } = 500;

    /// <summary>At most this many validation pairs form the retrieval pool (the first ones in file order; the issue asks for ≥ 500).</summary>
    public int EvalPairs { get; init; } = 1000;

    /// <summary>Save a checkpoint every this many steps (and always at the end); 0: only at the end.</summary>
    public long CheckpointInterval { get; init; } = 250;

    /// <summary>How many checkpoints to keep (older ones are deleted).</summary>
    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>Write averaged losses to <c>log.jsonl</c> every this many steps.</summary>
    public long LogInterval { get; init; } = 25;

    /// <summary>The split of the data folder to train on.</summary>
    public string TrainSplit { get; init; } = "train";

    /// <summary>The split to validate on; when the folder has none, validation uses the first training pairs.</summary>
    public string ValidationSplit { get; init; } = "validation";

    /// <summary>A config for unit tests: a few steps of batch 4, everything every 2 steps.</summary>
    public static ClipTrainingConfig Tiny { get; } = new()
    {
        Steps = 6,
        BatchSize = 4,
        LearningRate = 2e-3,
        WarmupSteps = 1,
        EmaDecay = 0.9,
        EvalInterval = 2,
        EvalPairs = 8,
        CheckpointInterval = 2,
        LogInterval = 1,
    };

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it, its value and the range.</exception>
    public void Validate()
    {
        Check(Steps >= 1, "steps", Steps, ">= 1");
        Check(BatchSize >= 2, "batch_size", BatchSize, ">= 2 (a contrastive batch needs negatives)");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", LearningRate, "> 0");
        Check(WarmupSteps >= 0 && WarmupSteps <= Steps, "warmup_steps", WarmupSteps, $"in [0, steps = {Steps}]");
        Check(MinLearningRateRatio is >= 0 and <= 1, "min_learning_rate_ratio", MinLearningRateRatio, "in [0, 1]");
        Check(Beta1 is >= 0 and < 1, "beta1", Beta1, "in [0, 1)");
        Check(Beta2 is >= 0 and < 1, "beta2", Beta2, "in [0, 1)");
        Check(Epsilon >= 0 && double.IsFinite(Epsilon), "epsilon", Epsilon, ">= 0");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), "weight_decay", WeightDecay, ">= 0");
        Check(MaxGradNorm >= 0 && double.IsFinite(MaxGradNorm), "max_grad_norm", MaxGradNorm, ">= 0 (0: off)");
        Check(MaxLogitScale > 0 && double.IsFinite(MaxLogitScale), "max_logit_scale", MaxLogitScale, "> 0 (CLIP: ln 100)");
        Check(EmaDecay is >= 0 and <= 1, "ema_decay", EmaDecay, "in [0, 1]");
        Check(Templates is { Length: > 0 }, "templates", Templates?.Length ?? 0, "at least one template");
        foreach (string t in Templates!) CaptionTemplates.Validate(t, "templates");
        CaptionTemplates.Validate(ZeroShotTemplate, "zero_shot_template");
        Check(!string.IsNullOrWhiteSpace(KeyField), "key_field", KeyField, "a metadata field name such as \"unified\"");
        Check(!string.IsNullOrWhiteSpace(CategoryField), "category_field", CategoryField, "a metadata field name such as \"category\"");
        Check(EvalInterval >= 0, "eval_interval", EvalInterval, ">= 0");
        Check(EvalPairs >= 2, "eval_pairs", EvalPairs, ">= 2");
        Check(CheckpointInterval >= 0, "checkpoint_interval", CheckpointInterval, ">= 0");
        Check(KeepCheckpoints >= 1, "keep_checkpoints", KeepCheckpoints, ">= 1");
        Check(LogInterval >= 1, "log_interval", LogInterval, ">= 1");
        Check(!string.IsNullOrWhiteSpace(TrainSplit), "train_split", TrainSplit, "a split name such as \"train\"");
        Check(!string.IsNullOrWhiteSpace(ValidationSplit), "validation_split", ValidationSplit, "a split name such as \"validation\"");
    }

    static void Check(bool ok, string key, object? value, string expected)
    {
        if (!ok) throw new ArgumentException($"text-encoder training config: {key} is {value}; expected {expected}.", key);
    }
}
