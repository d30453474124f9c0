using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Nn;

/// <summary>
/// diffusers' <c>Upsample2D</c> with <c>use_conv=True</c>: nearest-neighbour 2x upsampling followed by a 3x3 conv.
/// </summary>
/// <remarks>
/// The upsampling goes through <see cref="Ops.UpsampleNearest2x"/>, equal to <c>F.interpolate(mode="nearest")</c>
/// and faster on this engine; it works in any dtype, so no float32 round trip is needed for bf16 as in diffusers.
/// State-dict key: <c>conv</c>.
/// </remarks>
public sealed class Upsample2D : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;

    /// <summary>Creates the upsampler.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="channels">Input channels C.</param>
    /// <param name="outChannels">Output channels Cout.</param>
    /// <exception cref="ArgumentException">A channel count is not positive.</exception>
    public Upsample2D(string name, long channels, long outChannels) : base(name)
    {
        if (channels <= 0 || outChannels <= 0)
            throw new ArgumentException($"Upsample2D needs positive channel counts; got channels={channels}, outChannels={outChannels}");
        conv = nn.Conv2d(channels, outChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>Doubles the spatial size.</summary>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, Cout, 2H, 2W].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, C, H, W] -> [B, C, 2H, 2W] -> [B, Cout, 2H, 2W]
        using var scope = NewDisposeScope();
        return conv.forward(Ops.UpsampleNearest2x(x)).MoveToOuterDisposeScope();
    }

    /// <summary>Writes this layer's forward into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">This layer's state-dict prefix, e.g. "up_blocks.0.upsamplers.0".</param>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, Cout, 2H, 2W].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        // [B, C, H, W] -> [B, C, 2H, 2W]: nearest neighbour, each pixel repeated (PyTorch's "nearest" = asymmetric + floor)
        string up = g.Node("Resize", [x, "", g.Constant("scales_2x", [1f, 1f, 2f, 2f], [4])],
            OnnxAttribute.String("mode", "nearest"), OnnxAttribute.String("coordinate_transformation_mode", "asymmetric"),
            OnnxAttribute.String("nearest_mode", "floor"));
        return g.Conv($"{key}.conv", conv, up, padding: 1);
    }
}
