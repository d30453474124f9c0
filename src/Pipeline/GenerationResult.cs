using Latent.Pipeline.Metadata;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>The images of one request and what made them; the caller owns and disposes it.</summary>
/// <param name="Images">[B, 3, H, W] float32 in [-1, 1] (clamped), on the pipeline's device; write one with
/// <c>GenerationPng.Encode(Images[i], Parameters[i])</c> (or <c>ImageIO.SavePng</c> without metadata).</param>
/// <param name="Seeds">
/// Each image's seed: the request's seed for all of them, since one generator draws the whole batch's noise (as
/// diffusers with one generator). Image i is reproduced by the same request, batch position i.
/// </param>
/// <param name="Settings">What the call ran (the resolved request, sampler, model, LoRAs).</param>
public sealed record GenerationResult(Tensor Images, IReadOnlyList<long> Seeds, GenerationSettings Settings) : IDisposable
{
    IReadOnlyList<GenerationParameters>? parameters;

    /// <summary>Each image's settings in AUTOMATIC1111's format (<see cref="A1111Parameters.For"/>, made on first read);
    /// with B &gt; 1 they carry <c>Batch size</c> and <c>Batch pos</c>.</summary>
    public IReadOnlyList<GenerationParameters> Parameters => parameters ??= A1111Parameters.For(Settings);

    /// <summary>Wall time of the call's stages: text encoding, denoising, decoding (see <see cref="StageTimings"/>).</summary>
    public StageTimings Timings { get; init; } = new();

    /// <summary>Disposes <see cref="Images"/>.</summary>
    public void Dispose() => Images.Dispose();
}
