using System.Text.Json.Serialization;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Training;
using Latent.Vae;

namespace Latent.Training.Vae;

/// <summary>
/// Every hyper-parameter of a VAE training run (<see cref="VaeTrainer"/>), saved as <c>OUT/training_config.json</c> and
/// inside every checkpoint, so that a resumed run provably continues the same run. Keys are the snake_case names.
/// </summary>
/// <remarks>
/// <para>The objective is CompVis' <c>LPIPSWithDiscriminator</c> without LPIPS (its VGG weights cannot be obtained here):
/// loss = rec + kl_weight · KL + [step ≥ discriminator_start] · λ · discriminator_weight · (−mean D(x̂)), with
/// λ = ‖∇_L rec‖ / (‖∇_L g‖ + 1e-4) clamped to [0, 1e4] at the decoder's last layer L, and the PatchGAN discriminator
/// trained with the hinge loss ½(mean relu(1 − D(x)) + mean relu(1 + D(x̂))).</para>
/// <para>Units: rec is the per-pixel mean of |x − x̂| (or its square) over images in [-1, 1], and KL is the per-image
/// sum divided by the number of pixel values (C·H·W). CompVis sums both over pixels instead; dividing both by the same
/// constant keeps SD's kl_weight meaning the same thing while the logged losses and gradient norms stay readable.</para>
/// <para>The defaults are the run we recommend on 2 cores with <see cref="VaeConfig.Light"/> (see its remarks for timings).</para>
/// </remarks>
public sealed record VaeTrainingConfig : TrainingConfig
{
    /// <summary>The defaults: the run we recommend on 2 cores with <see cref="VaeConfig.Light"/>.</summary>
    public VaeTrainingConfig()
    {
        Steps = 5000;             // 16 images a step (0.8 s on 2 cores, ~1.1 s once the GAN is on): ~75 minutes, 7 epochs of the 11.5k emoji
        BatchSize = 16;           // keeps a step under a second on 2 cores; GroupNorm makes the model indifferent to B
        LearningRate = 2e-4;      // the fastest stable rate we found from scratch (CompVis' 4.5e-6 · batch ≈ 7e-5 is tuned for 100k+ steps)
        WarmupSteps = 200;
        Beta1 = 0.5;              // CompVis' VAE/GAN training: a short memory keeps the GAN game stable
        Beta2 = 0.9;              // CompVis
        WeightDecay = 0.01;
        EmaDecay = 0.999;
        CheckpointInterval = 250;
    }

    /// <summary>Weight of KL(q(z|x) ‖ N(0, I)): SD's 1e-6, which keeps latents near unit scale without blurring.</summary>
    public double KlWeight { get; init; } = 1e-6;

    /// <summary>
    /// Fine-tune the decoder alone (<c>post_quant_conv</c> and <c>decoder</c>), from <c>init_from</c>'s weights: the encoder
    /// and <c>quant_conv</c> stay frozen, so the latent space, and every U-Net trained on it, stays valid; the KL term is then
    /// a constant, and the export keeps <c>init_from</c>'s scaling factor instead of measuring it again. How Stability made
    /// SD's ft-EMA and ft-MSE VAEs (decoder fine-tunes of the original KL-f8).
    /// </summary>
    public bool DecoderOnly { get; init; }

    /// <summary>The pixel loss: L1 (CompVis) or L2.</summary>
    public ReconstructionLoss ReconstructionLoss { get; init; } = ReconstructionLoss.L1;

    /// <summary>Weight of the adversarial term (CompVis' 0.5); 0 builds no discriminator at all.</summary>
    public double DiscriminatorWeight { get; init; } = 0.5;

    /// <summary>The step at which the discriminator starts training and its loss joins the VAE's (CompVis: after the
    /// reconstructions are good). Late, because the GAN trades a little PSNR for sharper texture.</summary>
    public long DiscriminatorStart { get; init; } = 4000;

    /// <summary>Channels of the discriminator's first layer (pix2pix's ndf; doubled per layer up to 8x).</summary>
    public int DiscriminatorChannels { get; init; } = 64;

    /// <summary>Stride-2 layers of the PatchGAN (3 as pix2pix: 70x70 receptive field, more than a 64-px emoji).</summary>
    public int DiscriminatorLayers { get; init; } = 3;

    /// <summary>Augmentations of the training images. Flips double the data for a VAE, which only reconstructs.</summary>
    public Augmentations Augment { get; init; } = Augmentations.HorizontalFlip;

    /// <summary>Validate (PSNR, SSIM with the EMA weights) every this many steps, and at the end; 0: only at the end.</summary>
    public long EvalInterval { get; init; } = 500;

    /// <summary>At most this many validation images are evaluated (the first ones, in file order).</summary>
    public int EvalImages { get; init; } = 256;

    /// <summary>Save a reconstruction grid PNG (originals above, EMA reconstructions below) every this many steps; 0: only at the end.</summary>
    public long GridInterval { get; init; } = 500;

    /// <summary>Training images encoded to measure the scaling factor 1 / std(z) at the end.</summary>
    public int ScalingSamples { get; init; } = 512;

    /// <summary>The dtype of the exported weights.</summary>
    public ExportPrecision ExportPrecision { get; init; } = ExportPrecision.Float16;

    /// <summary>The split to validate on; when the folder has none, validation uses the first training images.</summary>
    public string ValidationSplit { get; init; } = "validation";

    /// <summary>A config for unit tests: a few steps of batch 2, the discriminator from step 2, everything every 2 steps.</summary>
    public static VaeTrainingConfig Tiny { get; } = new()
    {
        Steps = 6,
        BatchSize = 2,
        LearningRate = 5e-3,
        WarmupSteps = 1,
        DiscriminatorStart = 2,
        DiscriminatorChannels = 8,
        DiscriminatorLayers = 2,
        EmaDecay = 0.9,
        EvalInterval = 2,
        EvalImages = 4,
        GridInterval = 2,
        CheckpointInterval = 2,
        LogInterval = 1,
        ScalingSamples = 4,
    };

    /// <summary>Whether the run has a discriminator at all.</summary>
    [JsonIgnore] public bool HasDiscriminator => DiscriminatorWeight > 0;

    /// <inheritdoc />
    protected override string ConfigName => "VAE training config";

    /// <inheritdoc />
    protected override void ValidateOwn()
    {
        Check(!DecoderOnly || InitFrom is not null, "decoder_only", DecoderOnly, "false without init_from (only a trained VAE's decoder can be fine-tuned alone)");
        Check(KlWeight >= 0 && double.IsFinite(KlWeight), "kl_weight", KlWeight, ">= 0");
        Check(Enum.IsDefined(ReconstructionLoss), "reconstruction_loss", ReconstructionLoss, "l1 or l2");
        Check(DiscriminatorWeight >= 0 && double.IsFinite(DiscriminatorWeight), "discriminator_weight", DiscriminatorWeight, ">= 0 (0: no discriminator)");
        Check(DiscriminatorStart >= 0, "discriminator_start", DiscriminatorStart, ">= 0");
        Check(DiscriminatorChannels >= 1, "discriminator_channels", DiscriminatorChannels, ">= 1");
        Check(DiscriminatorLayers is >= 1 and <= 5, "discriminator_layers", DiscriminatorLayers, "in [1, 5]");
        Check(EvalInterval >= 0, "eval_interval", EvalInterval, ">= 0");
        Check(EvalImages >= 1, "eval_images", EvalImages, ">= 1");
        Check(GridInterval >= 0, "grid_interval", GridInterval, ">= 0");
        Check(ScalingSamples >= 1, "scaling_samples", ScalingSamples, ">= 1");
        Check(Enum.IsDefined(ExportPrecision), "export_precision", ExportPrecision, "float32, float16 or bfloat16");
        Check(!string.IsNullOrWhiteSpace(ValidationSplit), "validation_split", ValidationSplit, "a split name such as \"validation\"");
    }
}
