using Latent.Core.Config;
using Latent.Core.Training;
using Latent.TextEncoder.Captions;
using Latent.TextEncoder;

namespace Latent.Training.TextEncoder;

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
public sealed record ClipTrainingConfig : TrainingConfig
{
    /// <summary>The defaults: CLIP's recipe, scaled to our towers and the emoji data.</summary>
    public ClipTrainingConfig()
    {
        // 4000 steps of 128 pairs are ~45 epochs of the 11.5k emoji training images: the encoder has to learn ~4.7k names
        // from scratch and map each to every style of its emoji, which takes tens of epochs. At the 8.8 samples/s measured
        // on 2 loaded cores (Default text + Default tower, fp32, B = 128) this is ~16 hours; shorter runs validate and resume.
        Steps = 4000;
        // Every other pair of the batch is a negative, so a larger batch gives a harder, better objective (CLIP used 32k);
        // and the cost per pair falls with B on a CPU: 5.3 samples/s at B = 64, 8.8 at B = 128 (2 heavily loaded cores).
        BatchSize = 128;
        LearningRate = 5e-4;      // CLIP's rate (for ViT-B/32); our towers are far smaller and it is stable
        WarmupSteps = 200;        // CLIP warms up for 2000 of 32 epochs
        Beta1 = 0.9;              // CLIP
        Beta2 = 0.98;             // CLIP: a shorter second-moment memory is more stable for transformers at large rates
        WeightDecay = 0.1;        // CLIP's 0.2 halved because our runs are short
        EmaDecay = 0.999;
        CheckpointInterval = 250;
    }

    /// <summary>AdamW ε (1e-6, CLIP).</summary>
    public double Epsilon { get; init; } = 1e-6;

    /// <summary>Upper clamp of logit_scale after every step: ln 100, as CLIP, so exp(logit_scale) ≤ 100 and the softmax
    /// cannot collapse into a one-hot that stops the gradients.</summary>
    public double MaxLogitScale { get; init; } = Math.Log(100);

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

    /// <summary>Validate (recall@1/5 both ways and zero-shot accuracy, with the EMA weights) every this many steps and at
    /// the end; 0: only at the end.</summary>
    public long EvalInterval { get; init; } = 500;

    /// <summary>At most this many validation pairs form the retrieval pool (the first ones in file order; the issue asks for ≥ 500).</summary>
    public int EvalPairs { get; init; } = 1000;

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

    /// <inheritdoc />
    protected override string ConfigName => "text-encoder training config";

    /// <inheritdoc />
    protected override (int Min, string Expected) BatchSizeRule => (2, ">= 2 (a contrastive batch needs negatives)");

    /// <inheritdoc />
    protected override void ValidateOwn()
    {
        Check(Epsilon >= 0 && double.IsFinite(Epsilon), "epsilon", Epsilon, ">= 0");
        Check(MaxLogitScale > 0 && double.IsFinite(MaxLogitScale), "max_logit_scale", MaxLogitScale, "> 0 (CLIP: ln 100)");
        Check(Templates is { Length: > 0 }, "templates", Templates?.Length ?? 0, "at least one template");
        foreach (string t in Templates!) CaptionTemplates.Validate(t, "templates");
        CaptionTemplates.Validate(ZeroShotTemplate, "zero_shot_template");
        Check(!string.IsNullOrWhiteSpace(KeyField), "key_field", KeyField, "a metadata field name such as \"unified\"");
        Check(!string.IsNullOrWhiteSpace(CategoryField), "category_field", CategoryField, "a metadata field name such as \"category\"");
        Check(EvalInterval >= 0, "eval_interval", EvalInterval, ">= 0");
        Check(EvalPairs >= 2, "eval_pairs", EvalPairs, ">= 2");
        Check(!string.IsNullOrWhiteSpace(ValidationSplit), "validation_split", ValidationSplit, "a split name such as \"validation\"");
    }
}
