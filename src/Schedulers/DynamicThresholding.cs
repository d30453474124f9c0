using Latent.Core.Engine;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// Dynamic thresholding of the predicted x_0 (Imagen, Saharia et al. 2022, section 2.3), as diffusers'
/// <c>_threshold_sample</c>: per sample, s = clamp(quantile(|x_0|, p), 1, s_max); x_0 = clamp(x_0, -s, s) / s.
/// </summary>
internal static class DynamicThresholding
{
    /// <summary>Thresholds <paramref name="x0"/>: [B, C, ...] -> [B, C, ...] (computed in float32 for half types, as diffusers).</summary>
    /// <param name="x0">The predicted x_0.</param>
    /// <param name="ratio">The percentile p (diffusers' <c>dynamic_thresholding_ratio</c>).</param>
    /// <param name="maxValue">The ceiling s_max of the bound (diffusers' <c>sample_max_value</c>).</param>
    public static Tensor Apply(Tensor x0, double ratio, double maxValue)
    {
        if (x0.dim() < 2)
            throw new ArgumentException($"x0 has {x0.dim()} dimensions, expected [B, C, ...].", nameof(x0));
        using var scope = NewDisposeScope();
        ScalarType dtype = x0.dtype;
        long[] shape = x0.shape;
        Tensor x = dtype is ScalarType.Float32 or ScalarType.Float64 ? x0 : x0.to(ScalarType.Float32);
        x = x.reshape(shape[0], -1);                                               // [B, C, ...] -> [B, C*...]
        Tensor q = tensor((float)ratio).to(x.dtype);                                // torch.quantile's float q, in x's dtype
        Tensor s = x.abs().quantile(q, dim: 1, keepdim: false);                     // [B]: "a certain percentile absolute pixel value"
        s = s.clamp(Scalars.Of(1), Scalars.Of(maxValue)).unsqueeze(1);              // [B, 1]; s = 1 is plain clipping to [-1, 1]
        x = x.clamp(-s, s) / s;                                                     // threshold to [-s, s], divide by s
        return x.reshape(shape).to(dtype).MoveToOuterDisposeScope();
    }
}
