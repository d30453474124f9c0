using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Latent.Core.Onnx;

/// <summary>
/// Weight quantisation for <see cref="OnnxLinearWeights.DynamicInt8"/>: int8 weights with one symmetric scale per output
/// channel, written as ONNX Runtime's <c>com.microsoft.DynamicQuantizeMatMul</c>.
/// </summary>
/// <remarks>
/// Why hand-written: ONNX Runtime's quantiser (<c>quantize_dynamic</c>) is Python only, and it rewrites a finished model;
/// quantising here, where each linear layer is written, is a dozen lines and keeps one writer for every format.
/// Symmetric int8 in [-127, 127] (zero point 0, no -128, as ONNX Runtime's own quantiser does for weights) with the uint8
/// activations that DynamicQuantizeMatMul makes itself: the u8 x s8 pair is what its x64 kernels (AVX2, AVX-512 VNNI)
/// are built for.
/// </remarks>
public static class OnnxQuantization
{
    /// <summary>Largest magnitude of a quantised weight: symmetric range [-127, 127].</summary>
    public const int MaxInt8 = 127;

    /// <summary>
    /// Quantises a weight [out, in] per output channel: scale_o = max_i |W[o, i]| / 127 (1 for an all-zero row),
    /// q[i, o] = round(W[o, i] / scale_o) (ties to even), stored transposed ([in, out], as MatMul's B) and clamped to
    /// [-127, 127]. Then W[o, i] ~ q[i, o] * scale_o with an error of at most scale_o / 2.
    /// </summary>
    /// <param name="weight">[out, in] row-major float32.</param>
    /// <param name="outFeatures">Rows (output channels).</param>
    /// <param name="inFeatures">Columns (input features).</param>
    /// <returns>The int8 weight [in, out] and the scales [out].</returns>
    /// <exception cref="ArgumentException">The lengths do not match, or a weight is not finite.</exception>
    public static (sbyte[] Quantized, float[] Scales) Int8PerOutputChannel(ReadOnlySpan<float> weight, int outFeatures, int inFeatures)
    {
        if (outFeatures < 1 || inFeatures < 1 || weight.Length != (long)outFeatures * inFeatures)
            throw new ArgumentException($"expected a weight of {outFeatures} x {inFeatures} = {(long)outFeatures * inFeatures} values (both at least 1); got {weight.Length}", nameof(weight));
        var q = new sbyte[weight.Length];
        var scales = new float[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            var row = weight.Slice(o * inFeatures, inFeatures);
            float max = 0;
            foreach (float v in row)
            {
                if (!float.IsFinite(v)) throw new ArgumentException($"weight row {o} holds {v}; only finite weights can be quantised", nameof(weight));
                max = Math.Max(max, Math.Abs(v));
            }
            float scale = max > 0 ? max / MaxInt8 : 1f;
            scales[o] = scale;
            for (int i = 0; i < inFeatures; i++)
                q[i * outFeatures + o] = (sbyte)Math.Clamp(MathF.Round(row[i] / scale, MidpointRounding.ToEven), -MaxInt8, MaxInt8);
        }
        return (q, scales);
    }

    /// <summary>Writes x W^T + b with <paramref name="weight"/> quantised (<see cref="Int8PerOutputChannel"/>) as one
    /// <c>com.microsoft.DynamicQuantizeMatMul</c> node (inputs A, B, b_scale, b_zero_point omitted = 0, bias).</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Name of the weight (initializers <c>{key}.weight_int8</c>, <c>{key}.weight_scale</c>, <c>{key}.bias</c>).</param>
    /// <param name="weight">[out, in], any float dtype; not disposed.</param>
    /// <param name="bias">[out] or null.</param>
    /// <param name="x">[..., in] float32.</param>
    /// <returns>[..., out] float32.</returns>
    public static string DynamicInt8Linear(OnnxGraph g, string key, Tensor weight, Tensor? bias, string x)
    {
        ArgumentNullException.ThrowIfNull(g);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 2)
            throw new ArgumentException($"{key}: a linear weight is [out, in]; got shape [{string.Join(", ", weight.shape)}]", nameof(weight));
        int outFeatures = (int)weight.shape[0], inFeatures = (int)weight.shape[1];
        float[] values;
        using (NewDisposeScope())
            values = weight.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        var (q, scales) = Int8PerOutputChannel(values, outFeatures, inFeatures);
        string b = g.RawWeight($"{key}.weight_int8", OnnxGraph.Int8, [inFeatures, outFeatures], MemoryMarshal.AsBytes(q.AsSpan()).ToArray());
        string s = g.RawWeight($"{key}.weight_scale", OnnxGraph.Float, [outFeatures], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        string biasName = bias is null ? "" : g.Weight($"{key}.bias", bias);
        return g.DomainNode(OnnxGraph.MicrosoftDomain, "DynamicQuantizeMatMul", [x, b, s, "", biasName]);
    }
}
