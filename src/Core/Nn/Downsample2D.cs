using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Nn;

/// <summary>
/// diffusers' <c>Downsample2D</c> with <c>use_conv=True</c>: a 3x3 stride-2 convolution that halves H and W.
/// </summary>
/// <remarks>
/// With <c>padding = 1</c> (the U-Net's) the conv pads by one on every side. With <c>padding = 0</c> (the VAE's)
/// the input is first zero-padded by one column on the right and one row at the bottom, then convolved without
/// padding, exactly as diffusers does. Both map [B, C, H, W] to [B, Cout, ceil(H/2), ceil(W/2)] for even H, W.
/// State-dict key: <c>conv</c>.
/// </remarks>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly int padding;

    /// <summary>Creates the downsampler.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="channels">Input channels C.</param>
    /// <param name="outChannels">Output channels Cout.</param>
    /// <param name="padding">0 (VAE: asymmetric right/bottom pad) or 1 (U-Net: symmetric conv padding).</param>
    /// <exception cref="ArgumentException">A channel count is not positive or <paramref name="padding"/> is not 0 or 1.</exception>
    public Downsample2D(string name, long channels, long outChannels, int padding) : base(name)
    {
        if (channels <= 0 || outChannels <= 0)
            throw new ArgumentException($"Downsample2D needs positive channel counts; got channels={channels}, outChannels={outChannels}");
        if (padding is not (0 or 1))
            throw new ArgumentException($"Downsample2D padding must be 0 (VAE) or 1 (U-Net); got {padding}", nameof(padding));
        conv = nn.Conv2d(channels, outChannels, 3, stride: 2, padding: padding);
        this.padding = padding;
        RegisterComponents();
    }

    /// <summary>Halves the spatial size.</summary>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, Cout, H/2, W/2] (rounded up for odd sizes).</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, C, H, W] -> [B, Cout, H/2, W/2]
        using var scope = NewDisposeScope();
        var h = x;
        if (padding == 0)
        {
            // [B, C, H, W] -> [B, C, H+1, W+1]: pad (left 0, right 1, top 0, bottom 1)
            h = nn.functional.pad(h, new long[] { 0, 1, 0, 1 }, PaddingModes.Constant, 0.0);
        }
        return conv.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>Writes this layer's forward into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">This layer's state-dict prefix, e.g. "down_blocks.0.downsamplers.0".</param>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, Cout, H/2, W/2].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        // padding 0 (the VAE): pad right and bottom by one first, as forward does; [B, C, H, W] -> [B, C, H+1, W+1]
        string h = padding == 1 ? x : g.Node("Pad", [x, g.Ints("pads_right_bottom", 0, 0, 0, 0, 0, 0, 1, 1)]);
        return g.Conv($"{key}.conv", conv, h, stride: 2, padding: padding);
    }
}
