using Latent.Schedulers;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// What <see cref="StableDiffusionPipeline.Generate"/> makes: the prompts and the sampling settings, with diffusers'
/// <c>StableDiffusionPipeline.__call__</c> defaults where it has them.
/// </summary>
/// <remarks>
/// The batch is B = <c>Prompts.Count * ImagesPerPrompt</c> images, ordered prompt by prompt (prompt 0's images first),
/// as diffusers orders them.
/// </remarks>
public sealed record GenerationRequest
{
    /// <summary>One or more prompts, none empty; each gives <see cref="ImagesPerPrompt"/> images.</summary>
    public required IReadOnlyList<string> Prompts { get; init; }

    /// <summary>What the images should not show; "" (the default) is the unconditional prompt of classifier-free guidance. Used for every prompt.</summary>
    public string NegativePrompt { get; init; } = "";

    /// <summary>
    /// Classifier-free guidance scale s: noise = uncond + s (cond - uncond). At most 1 turns guidance off (one U-Net
    /// evaluation per step, the negative prompt unused), as diffusers does. 7.5 is diffusers' default.
    /// </summary>
    public double GuidanceScale { get; init; } = 7.5;

    /// <summary>Denoising steps, 1 to the scheduler's training steps (30: a good DDIM/DPM++ default; diffusers uses 50).</summary>
    public int Steps { get; init; } = 30;

    /// <summary>The sampler; null takes the model folder's own scheduler (its <c>scheduler_config.json</c>).</summary>
    public SchedulerKind? Scheduler { get; init; }

    /// <summary>
    /// Seed of the one <see cref="Generator"/> that draws the initial noise of the whole batch (one randn of
    /// [B, 4, h, w], as diffusers with one generator) and then every scheduler step's noise. 0 or more.
    /// </summary>
    public long Seed { get; init; }

    /// <summary>Image width in pixels; 0 (the default) takes the model's: the U-Net's sample_size times the VAE factor.</summary>
    public int Width { get; init; }

    /// <summary>Image height in pixels; 0 (the default) takes the model's: the U-Net's sample_size times the VAE factor.</summary>
    public int Height { get; init; }

    /// <summary>Images per prompt, at least 1.</summary>
    public int ImagesPerPrompt { get; init; } = 1;

    /// <summary>DDIM's eta in [0, 1]: 0 is deterministic DDIM, 1 DDPM-like; ignored by the other samplers (as diffusers).</summary>
    public double Eta { get; init; }

    /// <summary>
    /// Given initial latents x_T / InitNoiseSigma, [B, latent channels, Height / f, Width / f] (f the VAE factor), instead
    /// of drawing them; not disposed. The generator still draws the steps' noise.
    /// </summary>
    public Tensor? Latents { get; init; }

    /// <summary>
    /// Issue 25: classifier guidance toward one class set per image (B = prompts x images per prompt), alone or with
    /// classifier-free guidance; null: none. Needs an epsilon-predicting model. Not disposed.
    /// </summary>
    public Guidance.ClassifierGuidance? ClassifierGuidance { get; init; }
}
