using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>The images of one request and how each was made; the caller owns and disposes it.</summary>
/// <param name="Images">[B, 3, H, W] float32 in [-1, 1] (clamped), on the pipeline's device; save one with <c>ImageIO.SavePng(Images[i], path)</c>.</param>
/// <param name="Seeds">
/// Each image's seed: the request's seed for all of them, since one generator draws the whole batch's noise (as
/// diffusers with one generator). Image i is reproduced by the same request, batch position i.
/// </param>
/// <param name="Parameters">Each image's settings in AUTOMATIC1111's format (write with <c>WriteToPng</c>); with B &gt; 1 they carry <c>Batch size</c> and <c>Batch pos</c>.</param>
public sealed record GenerationResult(Tensor Images, IReadOnlyList<long> Seeds, IReadOnlyList<GenerationParameters> Parameters) : IDisposable
{
    /// <summary>Wall time of the call's stages: text encoding, denoising, decoding (see <see cref="StageTimings"/>).</summary>
    public StageTimings Timings { get; init; } = new();

    /// <summary>Disposes <see cref="Images"/>.</summary>
    public void Dispose() => Images.Dispose();
}
