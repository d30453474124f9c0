using Latent.Core.Training;
using static TorchSharp.torch;

namespace Latent.Core.Data;

/// <summary>One batch from <see cref="ImageBatchLoader"/>. Dispose it (or let an enclosing dispose scope do so) to free the images.</summary>
/// <param name="Images">Float32 <c>[B, 3, H, W]</c> in [-1, 1], created on the caller's thread (so a dispose scope there owns it).</param>
/// <param name="Captions">B captions, one per image.</param>
/// <param name="Indices">B record indices into the data set.</param>
/// <param name="Flipped">B flags: whether the image was mirrored.</param>
/// <param name="Start">The sampler's state before this batch: restoring it gives this batch again.</param>
public sealed record ImageBatch(Tensor Images, IReadOnlyList<string> Captions, int[] Indices, bool[] Flipped, SamplerState Start) : IDisposable
{
    /// <summary>Disposes <see cref="Images"/>.</summary>
    public void Dispose() => Images.Dispose();
}
