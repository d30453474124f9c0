using static TorchSharp.torch;

namespace Latent.Core.Nn;

/// <summary>Tensor ops that replace slow or broken engine ops with identical results.</summary>
public static class Ops
{
    /// <summary>
    /// Nearest-neighbour 2x upsampling, equal element for element to
    /// <c>F.interpolate(x, scale_factor: 2, mode: Nearest)</c>.
    /// </summary>
    /// <remarks>
    /// Works around TorchSharp 0.107.0's nearest interpolate, 3-20x slower than PyTorch at decoder shapes in fp32
    /// (<c>F.upsample_nearest</c> throws an align_corners error). Written as expand + reshape, which is 3-6x faster
    /// (docs/PERFORMANCE.md). Drop it when the engine's own op is as fast.
    /// </remarks>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, C, 2H, 2W]; the caller owns it.</returns>
    /// <exception cref="ArgumentException"><paramref name="x"/> is not 4-dimensional.</exception>
    public static Tensor UpsampleNearest2x(Tensor x)
    {
        if (x.dim() != 4)
            throw new ArgumentException($"UpsampleNearest2x expects [B, C, H, W]; got shape [{string.Join(", ", x.shape)}]", nameof(x));
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        using var scope = NewDisposeScope();
        // [B, C, H, 1, W, 1] -> [B, C, H, 2, W, 2] -> [B, C, 2H, 2W]
        return x.reshape(b, c, h, 1, w, 1).expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w).MoveToOuterDisposeScope();
    }
}
