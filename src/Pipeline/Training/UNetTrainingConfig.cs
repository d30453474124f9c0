using System.Text.Json.Serialization;
using Latent.Core.Config;
using Latent.Core.Training;
using Latent.Pipeline.Schedulers;
using Latent.Vae.Training;

namespace Latent.Pipeline.Training;

/// <summary>
/// Every hyper-parameter of a latent-diffusion U-Net training run (<see cref="UNetTrainer"/>), saved as
/// <c>OUT/training_config.json</c> and inside every checkpoint, so that a resumed run provably continues the same run.
/// Keys are the snake_case names.
/// </summary>
/// <remarks>
/// <para>The objective is diffusers' <c>train_text_to_image.py</c>: z₀ = scaling_factor · (posterior sample of the frozen
/// VAE), t ~ U{0, …, T−1}, ε ~ N(0, I) (+ noise_offset · N(0, I) per channel), z_t = sqrt(ᾱ_t) z₀ + sqrt(1 − ᾱ_t) ε, and
/// loss = mean_b w_b · mean_{c,h,w} (U(z_t, t, c) − target)², with target ε or v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) z₀ and
/// w_b = 1, or the min-SNR-γ weight (Hang et al. 2023) min(SNR_t, γ) / SNR_t for ε and min(SNR_t, γ) / (SNR_t + 1) for v,
/// SNR_t = ᾱ_t / (1 − ᾱ_t).</para>
/// <para>The noise schedule is SD's (scaled_linear from 0.00085 to 0.012 over 1000 steps), written to
/// <c>OUT/scheduler/scheduler_config.json</c> at the end.</para>
/// </remarks>
public sealed record UNetTrainingConfig : JsonConfig
{
    /// <summary>Total optimizer steps; the learning-rate schedule ends here and the export happens after it.
    /// 20k steps of 32 latents are ~55 epochs of the 11.5k emoji training images.</summary>
    public long Steps { get; init; } = 20_000;

    /// <summary>Latents per step. 32 is the largest batch that keeps a step around a second for the 22.6M-parameter
    /// default U-Net on 16x16x4 latents on 2 cores; GroupNorm makes the model indifferent to B.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Peak AdamW learning rate. 1e-4 is diffusers' default for training text-to-image U-Nets from scratch
    /// (larger rates make attention logits blow up early).</summary>
    public double LearningRate { get; init; } = 1e-4;

    /// <summary>Steps of linear warm-up from 0: lets Adam's second moments settle before full-size steps.</summary>
    public long WarmupSteps { get; init; } = 500;

    /// <summary>The cosine decay's floor as a fraction of the peak (10%: the last steps still learn).</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>AdamW β1 (0.9, Adam's paper and diffusers).</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2 (0.999, Adam's paper and diffusers).</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Decoupled weight decay for kernels and matrices (biases and norms never decay); diffusers' 1e-2.</summary>
    public double WeightDecay { get; init; } = 1e-2;

    /// <summary>Clip the total gradient norm to this (0: no clipping); diffusers' 1.0. A step whose gradient is not
    /// finite is skipped.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>The EMA's largest decay; grids and the exported weights are the EMA's. Ramped up from 0 by diffusers'
    /// warm-up 1 − (1 + s)^(−2/3), so a short run is not dragged back to its random start.</summary>
    public double EmaDecay { get; init; } = 0.9999;

    /// <summary>Probability that a caption is replaced by the empty prompt (SD: 0.1), so the same U-Net learns the
    /// unconditional prediction that classifier-free guidance needs.</summary>
    public double CaptionDropout { get; init; } = 0.1;

    /// <summary>What the U-Net predicts: the noise ε (SD 1.x) or v (SD 2.x 768). Written into the scheduler config.</summary>
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>γ of min-SNR weighting (5, the paper's and diffusers' recommendation); 0 turns the weighting off.
    /// It stops the nearly noise-free steps, whose loss is tiny but whose gradients dominate, from slowing training.</summary>
    public double MinSnrGamma { get; init; } = 5.0;

    /// <summary>Scale of the per-channel noise offset (0: off; 0.05-0.1 lets the model make very dark or bright images).</summary>
    public double NoiseOffset { get; init; }

    /// <summary>Seeds the initial weights, the data order, caption choices, caption dropout, posterior samples, noise
    /// and timesteps, and the sample grids.</summary>
    public ulong Seed { get; init; }

    /// <summary>A diffusers U-Net folder (<c>config.json</c> + <c>diffusion_pytorch_model.safetensors</c>, e.g. the <c>unet/</c>
    /// of an earlier run) whose weights start the run instead of the seeded initialisation: fine-tuning, or continuing a
    /// finished run with a fresh learning-rate schedule. Null: train from scratch. Loaded strictly; its config must equal the
    /// run's model config. A resumed run takes its weights from the checkpoint and never reads this folder again.</summary>
    public string? InitFrom { get; init; }

    /// <summary>Issue 25, improved DDPM: <c>learned_range</c> makes the U-Net predict 2C channels (the mean and v of
    /// <see cref="LearnedRange"/>) and trains it with L_hybrid = L_simple + lambda L_vlb (<see cref="VariationalBound"/>);
    /// the exported scheduler is then DDPM with <c>variance_type: learned_range</c>. Null (left out of the JSON, so runs from
    /// before it resume): the fixed variance of plain DDPM, C output channels.</summary>
    [JsonPropertyName("variance_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public VarianceType? VarianceType { get; init; }

    /// <summary>lambda of L_hybrid with a learned variance; null: improved DDPM's 0.001 (<see cref="VariationalBound.DefaultLambda"/>).</summary>
    [JsonPropertyName("vlb_weight"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? VlbWeight { get; init; }

    /// <summary>Whether the U-Net predicts its variance (<see cref="VarianceType"/> learned_range).</summary>
    [JsonIgnore]
    public bool LearnsVariance => VarianceType == Schedulers.VarianceType.LearnedRange;

    /// <summary>Write the averaged loss to <c>log.jsonl</c> every this many steps.</summary>
    public long LogInterval { get; init; } = 25;

    /// <summary>Save a grid of samples for <see cref="ValidationPrompts"/> with the EMA weights every this many steps
    /// (and at the end); 0: only at the end.</summary>
    public long SampleInterval { get; init; } = 1000;

    /// <summary>Save a checkpoint every this many steps (and always when the run stops); 0: only then.</summary>
    public long CheckpointInterval { get; init; } = 500;

    /// <summary>How many checkpoints to keep (older ones are deleted).</summary>
    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>The prompts of the sample grids (one image each, the same seed every time, so grids compare across steps).</summary>
    public string[] ValidationPrompts { get; init; } =
        ["grinning face", "red heart", "thumbs up", "sun with face", "pizza", "rocket", "cat face", "flag: France"];

    /// <summary>Sampling steps of the grids (DDIM, as cheap as still gives recognisable images).</summary>
    public int SampleSteps { get; init; } = 25;

    /// <summary>Classifier-free guidance scale of the grids (SD's 7.5).</summary>
    public double SampleGuidanceScale { get; init; } = 7.5;

    /// <summary>The dtype of the exported U-Net (and the copied VAE and text encoder): float16 halves the size; the model
    /// always trains in float32.</summary>
    public ExportPrecision ExportPrecision { get; init; } = ExportPrecision.Float16;

    /// <summary>The compute dtype of the U-Net's forward and backward passes: "no" (float32, the default) or "bf16"
    /// (<see cref="BFloat16Compute{TModel}"/>: a bf16 copy computes, the float32 master weights, optimizer, EMA and
    /// checkpoints are unchanged). Left out of the JSON when "no", so configs and checkpoints of float32 runs stay as
    /// they were and resume.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public MixedPrecision MixedPrecision { get; init; }

    /// <summary>The split of the data folder to train on.</summary>
    public string TrainSplit { get; init; } = "train";

    /// <summary>A config for unit tests: a few steps of batch 4, everything every 2 steps.</summary>
    public static UNetTrainingConfig Tiny { get; } = new()
    {
        Steps = 6,
        BatchSize = 4,
        LearningRate = 1e-3,
        WarmupSteps = 1,
        EmaDecay = 0.9,
        LogInterval = 1,
        SampleInterval = 0,
        CheckpointInterval = 2,
        ValidationPrompts = ["red", "blue"],
        SampleSteps = 4,
        ExportPrecision = ExportPrecision.Float32,
    };

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it, its value and the range.</exception>
    public void Validate()
    {
        Check(Steps >= 1, "steps", Steps, ">= 1");
        Check(BatchSize >= 1, "batch_size", BatchSize, ">= 1");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", LearningRate, "> 0");
        Check(WarmupSteps >= 0 && WarmupSteps <= Steps, "warmup_steps", WarmupSteps, $"in [0, steps = {Steps}]");
        Check(MinLearningRateRatio is >= 0 and <= 1, "min_learning_rate_ratio", MinLearningRateRatio, "in [0, 1]");
        Check(Beta1 is >= 0 and < 1, "beta1", Beta1, "in [0, 1)");
        Check(Beta2 is >= 0 and < 1, "beta2", Beta2, "in [0, 1)");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), "weight_decay", WeightDecay, ">= 0");
        Check(MaxGradNorm >= 0 && double.IsFinite(MaxGradNorm), "max_grad_norm", MaxGradNorm, ">= 0 (0: off)");
        Check(EmaDecay is >= 0 and <= 1, "ema_decay", EmaDecay, "in [0, 1]");
        Check(CaptionDropout is >= 0 and <= 1, "caption_dropout", CaptionDropout, "in [0, 1]");
        Check(PredictionType is PredictionType.Epsilon or PredictionType.VPrediction, "prediction_type", PredictionType, "epsilon or v_prediction");
        Check(MinSnrGamma >= 0 && double.IsFinite(MinSnrGamma), "min_snr_gamma", MinSnrGamma, ">= 0 (0: off)");
        Check(NoiseOffset >= 0 && double.IsFinite(NoiseOffset), "noise_offset", NoiseOffset, ">= 0 (0: off)");
        Check(LogInterval >= 1, "log_interval", LogInterval, ">= 1");
        Check(SampleInterval >= 0, "sample_interval", SampleInterval, ">= 0");
        Check(CheckpointInterval >= 0, "checkpoint_interval", CheckpointInterval, ">= 0");
        Check(KeepCheckpoints >= 1, "keep_checkpoints", KeepCheckpoints, ">= 1");
        Check(ValidationPrompts is { Length: >= 1 }, "validation_prompts", ValidationPrompts?.Length ?? 0, "at least one prompt");
        Check(SampleSteps >= 1, "sample_steps", SampleSteps, ">= 1");
        Check(SampleGuidanceScale >= 0 && double.IsFinite(SampleGuidanceScale), "sample_guidance_scale", SampleGuidanceScale, ">= 0");
        Check(Enum.IsDefined(ExportPrecision), "export_precision", ExportPrecision, "float32, float16 or bfloat16");
        Check(VarianceType is null or Schedulers.VarianceType.LearnedRange, "variance_type", VarianceType!, "null (fixed) or learned_range");
        Check(VlbWeight is null || (VlbWeight > 0 && double.IsFinite(VlbWeight.Value)), "vlb_weight", VlbWeight!, "> 0 (or null: 0.001)");
        Check(VlbWeight is null || LearnsVariance, "vlb_weight", VlbWeight!, "null unless variance_type is learned_range");
        Check(Enum.IsDefined(MixedPrecision), "mixed_precision", MixedPrecision, "no or bf16");
        Check(!string.IsNullOrWhiteSpace(TrainSplit), "train_split", TrainSplit, "a split name such as \"train\"");
    }

    static void Check(bool ok, string key, object value, string expected)
    {
        if (!ok) throw new ArgumentException($"U-Net training config: {key} is {value}; expected {expected}.", key);
    }
}
