using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Onnx;

/// <summary>
/// TorchSharp's layers written as ONNX nodes (each mirrors the layer's forward in eval mode); the weights become
/// initializers named after the layer's state-dict key.
/// </summary>
public static class OnnxLayers
{
    /// <summary>Linear layer: x W^T + b.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">The layer's state-dict prefix, e.g. "time_embedding.linear_1".</param>
    /// <param name="layer">The layer.</param>
    /// <param name="x">[..., in].</param>
    /// <returns>[..., out].</returns>
    public static string Linear(this OnnxGraph g, string key, Linear layer, string x) =>
        g.Linear(key, layer.weight!, layer.bias, x);

    /// <summary>Linear map with explicit weights: x W^T + b (a slice of a layer's weight, as GEGLU's halves); float32, or
    /// quantised as the graph's <see cref="OnnxGraph.LinearWeights"/> says.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Name of the weight.</param>
    /// <param name="weight">[out, in].</param>
    /// <param name="bias">[out] or null.</param>
    /// <param name="x">[..., in].</param>
    /// <returns>[..., out].</returns>
    public static string Linear(this OnnxGraph g, string key, Tensor weight, Tensor? bias, string x)
    {
        if (g.LinearWeights == OnnxLinearWeights.DynamicInt8) return OnnxQuantization.DynamicInt8Linear(g, key, weight, bias, x);
        // x: [..., in] @ W^T: [in, out] -> [..., out]; W is stored transposed so MatMul needs no Transpose node.
        using var t = weight.t();
        string y = g.Node("MatMul", [x, g.Weight($"{key}.weight", t)]);
        return bias is null ? y : g.Node("Add", [y, g.Weight($"{key}.bias", bias)]);
    }

    /// <summary>
    /// 2-D convolution (kernel from the weight's shape) with the same stride and zero padding on both axes, dilation 1
    /// and one group: the only convolutions these models build; a test compares every exported model with its forward.
    /// </summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">The layer's state-dict prefix.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <param name="stride">Its stride, as the calling module built the layer.</param>
    /// <param name="padding">Its zero padding on every side, as the calling module built the layer.</param>
    /// <returns>[B, Cout, H', W'].</returns>
    public static string Conv(this OnnxGraph g, string key, Conv2d layer, string x, long stride = 1, long padding = 0)
    {
        var w = layer.weight!;
        var inputs = new List<string> { x, g.Weight($"{key}.weight", w) };
        if (layer.bias is { } b) inputs.Add(g.Weight($"{key}.bias", b));
        return g.Node("Conv", [.. inputs],
            OnnxAttribute.Ints("kernel_shape", w.shape[2], w.shape[3]),
            OnnxAttribute.Ints("strides", stride, stride),
            OnnxAttribute.Ints("pads", padding, padding, padding, padding));
    }

    /// <summary>GroupNorm over [B, C, H, W], as InstanceNormalization of [B, G, C/G*H*W] plus the per-channel affine.</summary>
    /// <remarks>ONNX's own GroupNormalization (opset 18) has a per-group scale, unlike PyTorch's per-channel one
    /// (fixed only in opset 21); this form is what PyTorch's exporter writes and what ONNX Runtime runs well.</remarks>
    /// <param name="g">The graph.</param>
    /// <param name="key">The layer's state-dict prefix.</param>
    /// <param name="layer">The layer (affine).</param>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, C, H, W].</returns>
    public static string GroupNorm(this OnnxGraph g, string key, GroupNorm layer, string x)
    {
        long groups = layer.num_groups;
        var w = layer.weight ?? throw new NotSupportedException($"{key}: a GroupNorm without affine weights is not exported");
        long channels = w.shape[0];
        // [B, C, H, W] -> [B, G, C/G*H*W] -> normalised per (b, g) -> [B, C, H, W]
        string grouped = g.Node("Reshape", [x, g.Ints("shape_groups", 0, groups, -1)]);
        string normed = g.Node("InstanceNormalization",
            [grouped, g.Constant("ones", Enumerable.Repeat(1f, (int)groups).ToArray(), [groups]), g.Constant("zeros", new float[groups], [groups])],
            OnnxAttribute.Float("epsilon", layer.eps));
        string back = g.Node("Reshape", [normed, g.Node("Shape", [x])]);
        // per-channel affine: weight, bias [C] -> [C, 1, 1]
        using var w3 = w.reshape(channels, 1, 1);
        using var b3 = layer.bias!.reshape(channels, 1, 1);
        return g.Node("Add", [g.Node("Mul", [back, g.Weight($"{key}.weight", w3)]), g.Weight($"{key}.bias", b3)]);
    }

    /// <summary>LayerNorm over the last axis.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">The layer's state-dict prefix.</param>
    /// <param name="layer">The layer (elementwise affine, one normalised axis).</param>
    /// <param name="x">[..., C].</param>
    /// <returns>[..., C].</returns>
    public static string LayerNorm(this OnnxGraph g, string key, LayerNorm layer, string x)
    {
        if (layer.weight is null || layer.bias is null)
            throw new NotSupportedException($"{key}: a LayerNorm without affine weights is not exported");
        return g.Node("LayerNormalization", [x, g.Weight($"{key}.weight", layer.weight), g.Weight($"{key}.bias", layer.bias)],
            OnnxAttribute.Int("axis", -1), OnnxAttribute.Float("epsilon", layer.eps));
    }

    /// <summary>SiLU: x * sigmoid(x).</summary>
    /// <param name="g">The graph.</param>
    /// <param name="x">Any shape.</param>
    /// <returns>Same shape.</returns>
    public static string Silu(this OnnxGraph g, string x) => g.Node("Mul", [x, g.Node("Sigmoid", [x])]);

    /// <summary>Exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)), in the node pattern ONNX Runtime fuses into one Gelu.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="x">Any shape.</param>
    /// <returns>Same shape.</returns>
    public static string Gelu(this OnnxGraph g, string x)
    {
        string erf = g.Node("Erf", [g.Node("Div", [x, g.Scalar("sqrt2", Math.Sqrt(2))])]);
        string onePlus = g.Node("Add", [erf, g.Scalar("one", 1)]);
        return g.Node("Mul", [g.Node("Mul", [x, onePlus]), g.Scalar("half", 0.5)]);
    }

    /// <summary>A float32 scalar constant.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="hint">Name hint.</param>
    /// <param name="value">Its value.</param>
    /// <returns>Its name.</returns>
    public static string Scalar(this OnnxGraph g, string hint, double value) => g.Constant(hint, [(float)value], []);
}
