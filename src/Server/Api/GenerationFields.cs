namespace Latent.Server;

/// <summary>
/// The body of <c>POST /sdapi/v1/txt2img</c> and <c>/img2img</c>: AUTOMATIC1111's <c>StableDiffusionProcessingTxt2Img</c>
/// and <c>Img2Img</c> fields that Latent implements, with their names (snake_case on the wire) and meanings. Every field may
/// be left out; fields Latent does not know (<c>styles</c>, <c>restore_faces</c>, <c>override_settings</c>, ...) are
/// ignored, as A1111 ignores unknown ones.
/// </summary>
public sealed record GenerationFields
{
    /// <summary>What the images should show; must not be empty (Latent's models have no use for the empty prompt).</summary>
    public string? Prompt { get; init; }

    /// <summary>What they should not show; "" by default.</summary>
    public string? NegativePrompt { get; init; }

    /// <summary>Denoising steps, 1 to the server's limit; 50 by default, as A1111's API.</summary>
    public int? Steps { get; init; }

    /// <summary>Classifier-free guidance scale, a finite number of 0 or more (1 or less turns guidance off); 7 by default, as A1111.</summary>
    public double? CfgScale { get; init; }

    /// <summary>An A1111 sampler name (<c>/sdapi/v1/samplers</c>: "Euler a", "DPM++ 2M Karras", ...); null: the model's own scheduler.</summary>
    public string? SamplerName { get; init; }

    /// <summary>A1111's older name for <see cref="SamplerName"/>, used when that is absent.</summary>
    public string? SamplerIndex { get; init; }

    /// <summary>A1111 1.9's noise schedule: "Automatic", "Uniform" or "Karras" (Karras for Euler and DPM++ 2M).</summary>
    public string? Scheduler { get; init; }

    /// <summary>The seed, 0 to 2^63 - 1; -1 (the default) picks one at random. Iteration k of <see cref="NIter"/> uses seed + k x batch_size.</summary>
    public long? Seed { get; init; }

    /// <summary>Image width in pixels, a multiple of the model's size factor; null or 0: the model's size (A1111's 512 would not suit small models).</summary>
    public int? Width { get; init; }

    /// <summary>Image height; as <see cref="Width"/>.</summary>
    public int? Height { get; init; }

    /// <summary>Images per batch (one pipeline call), at least 1; 1 by default.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Batches one after another, at least 1; 1 by default.</summary>
    public int? NIter { get; init; }

    /// <summary>DDIM's eta in [0, 1]; 0 by default; ignored by other samplers.</summary>
    public double? Eta { get; init; }

    /// <summary>img2img only: how much to change the image, in [0, 1]; 0.75 by default, as A1111.</summary>
    public double? DenoisingStrength { get; init; }

    /// <summary>img2img only: the start image as base64 (a <c>data:image/...;base64,</c> prefix is allowed), resized to width x height. The first one is used.</summary>
    public IReadOnlyList<string?>? InitImages { get; init; }
}
