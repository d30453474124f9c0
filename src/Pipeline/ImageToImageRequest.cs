using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// What <see cref="StableDiffusionPipeline.ImageToImage"/> makes: SDEdit (Meng et al. 2021) as diffusers'
/// <c>StableDiffusionImg2ImgPipeline</c>: the image is encoded, noised to the level of the first of the last
/// <c>floor(Steps * Strength)</c> timesteps, and denoised from there with the prompt.
/// </summary>
public sealed record ImageToImageRequest
{
    /// <summary>
    /// The prompts and sampling settings. <see cref="GenerationRequest.Width"/> and <see cref="GenerationRequest.Height"/>
    /// must be 0 or the image's size; <see cref="GenerationRequest.Latents"/> must be null.
    /// </summary>
    public required GenerationRequest Generation { get; init; }

    /// <summary>
    /// The start image, [3, H, W] or [1, 3, H, W] in [-1, 1] (as <c>ImageIO.Load</c> gives), H and W multiples of the
    /// pipeline's <see cref="StableDiffusionPipeline.SizeMultiple"/>; not disposed. Used for every image of the batch.
    /// </summary>
    public required Tensor Image { get; init; }

    /// <summary>
    /// How much to change the image, in [0, 1]: 1 starts from pure noise (all steps), 0 runs no step and returns the
    /// VAE's reconstruction of a posterior sample. 0.8 is diffusers' default.
    /// </summary>
    public double Strength { get; init; } = 0.8;
}
