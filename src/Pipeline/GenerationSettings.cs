using Latent.Pipeline.Lora;
using Latent.Schedulers;

namespace Latent.Pipeline;

/// <summary>
/// What one call ran, as plain facts (no file format): the request with its defaults resolved, the sampler, the model and
/// the LoRAs. The caller turns them into whatever metadata it writes (<see cref="A1111Parameters"/> for PNGs and the server).
/// </summary>
/// <param name="Request">The request with Width and Height resolved (the default size, or the input image's).</param>
/// <param name="Scheduler">The sampler that ran (the request's, else the model's).</param>
/// <param name="Model">The model's name (<see cref="StableDiffusionPipeline.ModelName"/>); null when unnamed.</param>
/// <param name="Loras">The LoRAs fused during the call, with their files' short hashes (<see cref="LoraFile.ShortHash"/>) in the same order.</param>
/// <param name="LoraHashes">The short hashes of <paramref name="Loras"/>' files.</param>
/// <param name="Strength">Image-to-image's strength; null for text-to-image.</param>
public sealed record GenerationSettings(
    GenerationRequest Request, SchedulerConfig Scheduler, string? Model, IReadOnlyList<LoraSpec> Loras, IReadOnlyList<string> LoraHashes, double? Strength)
{
    /// <summary>Images made: prompts x images per prompt.</summary>
    public int BatchSize => Request.Prompts.Count * Request.ImagesPerPrompt;
}
