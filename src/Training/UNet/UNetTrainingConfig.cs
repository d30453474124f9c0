using System.Text.Json.Serialization;
using Latent.Core.Config;
using Latent.Core.Training;
using Latent.Schedulers;
using Latent.Pipeline;

namespace Latent.Training.UNet;

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
public sealed record UNetTrainingConfig : TrainingConfig
{
    /// <summary>The defaults: diffusers' <c>train_text_to_image.py</c>, sized for the emoji data on 2 cores.</summary>
    public UNetTrainingConfig()
    {
        Steps = 20_000;           // 32 latents a step: ~55 epochs of the 11.5k emoji training images
        BatchSize = 32;           // the largest batch that keeps a step around a second for the 22.6M default U-Net on 2 cores
        LearningRate = 1e-4;      // diffusers' default from scratch (larger rates make attention logits blow up early)
        WarmupSteps = 500;
        Beta1 = 0.9;              // Adam's paper and diffusers
        Beta2 = 0.999;            // Adam's paper and diffusers
        WeightDecay = 1e-2;       // diffusers
        EmaDecay = 0.9999;
        CheckpointInterval = 500;
    }

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

    /// <summary>Save a grid of samples for <see cref="ValidationPrompts"/> with the EMA weights every this many steps
    /// (and at the end); 0: only at the end.</summary>
    public long SampleInterval { get; init; } = 1000;

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

    /// <summary>The compute dtype of the U-Net's forward and backward passes: "no" (float32, the default) or "bf16"
    /// (<see cref="BFloat16Compute{TModel}"/>: a bf16 copy computes, the float32 master weights, optimizer, EMA and
    /// checkpoints are unchanged). Left out of the JSON when "no", so configs and checkpoints of float32 runs stay as
    /// they were and resume.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public MixedPrecision MixedPrecision { get; init; }

    /// <summary>A metadata field (e.g. <c>base</c>, which <c>latent data emoji</c> writes: the emoji without skin tones)
    /// whose value groups the images; every group then gets the same share of the steps (<see cref="CaptionedSampler"/>).
    /// Null (the default): every image once an epoch. Left out of the JSON when null, so earlier runs resume.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? BalanceBy { get; init; }

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

    /// <inheritdoc />
    protected override string ConfigName => "U-Net training config";

    /// <inheritdoc />
    protected override void ValidateOwn()
    {
        Check(CaptionDropout is >= 0 and <= 1, "caption_dropout", CaptionDropout, "in [0, 1]");
        Check(PredictionType is PredictionType.Epsilon or PredictionType.VPrediction, "prediction_type", PredictionType, "epsilon or v_prediction");
        Check(MinSnrGamma >= 0 && double.IsFinite(MinSnrGamma), "min_snr_gamma", MinSnrGamma, ">= 0 (0: off)");
        Check(NoiseOffset >= 0 && double.IsFinite(NoiseOffset), "noise_offset", NoiseOffset, ">= 0 (0: off)");
        Check(SampleInterval >= 0, "sample_interval", SampleInterval, ">= 0");
        Check(ValidationPrompts is { Length: >= 1 }, "validation_prompts", ValidationPrompts?.Length ?? 0, "at least one prompt");
        Check(SampleSteps >= 1, "sample_steps", SampleSteps, ">= 1");
        Check(SampleGuidanceScale >= 0 && double.IsFinite(SampleGuidanceScale), "sample_guidance_scale", SampleGuidanceScale, ">= 0");
        Check(Enum.IsDefined(ExportPrecision), "export_precision", ExportPrecision, "float32, float16 or bfloat16");
        Check(VarianceType is null or Schedulers.VarianceType.LearnedRange, "variance_type", VarianceType!, "null (fixed) or learned_range");
        Check(VlbWeight is null || (VlbWeight > 0 && double.IsFinite(VlbWeight.Value)), "vlb_weight", VlbWeight!, "> 0 (or null: 0.001)");
        Check(VlbWeight is null || LearnsVariance, "vlb_weight", VlbWeight!, "null unless variance_type is learned_range");
        Check(Enum.IsDefined(MixedPrecision), "mixed_precision", MixedPrecision, "no or bf16");
        Check(BalanceBy is null || !string.IsNullOrWhiteSpace(BalanceBy), "balance_by", BalanceBy, "null or a metadata field name");
    }
}
