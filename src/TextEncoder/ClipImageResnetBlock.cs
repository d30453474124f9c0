using Latent.Core.Engine;
using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>A residual block of <see cref="ClipImageTower"/>, as diffusers' ResnetBlock2D without a time embedding.</summary>
/// <remarks>
/// <c>out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))</c>, <c>shortcut</c> a 1x1 conv when the channel
/// count changes. Keys: <c>norm1</c>, <c>conv1</c>, <c>norm2</c>, <c>conv2</c>, <c>conv_shortcut</c> (when in != out).
/// </remarks>
public sealed class ClipImageResnetBlock : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm norm1;
    private readonly Conv2d conv1;
    private readonly GroupNorm norm2;
    private readonly Conv2d conv2;
    private readonly Conv2d? conv_shortcut;

    /// <summary>Creates the block.</summary>
    /// <param name="inChannels">Input channels Cin.</param>
    /// <param name="outChannels">Output channels Cout.</param>
    /// <param name="groups">GroupNorm groups (divide both channel counts).</param>
    /// <param name="eps">GroupNorm epsilon.</param>
    public ClipImageResnetBlock(long inChannels, long outChannels, int groups, double eps) : base(nameof(ClipImageResnetBlock))
    {
        norm1 = Layers.GroupNorm(groups, inChannels, eps);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        norm2 = Layers.GroupNorm(groups, outChannels, eps);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels)
            conv_shortcut = nn.Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    /// <summary>Applies the block.</summary>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <returns>[B, Cout, H, W].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, Cin, H, W] -> [B, Cout, H, W]
        using var scope = NewDisposeScope();
        var h = conv1.forward(nn.functional.silu(norm1.forward(x)));
        h = conv2.forward(nn.functional.silu(norm2.forward(h)));
        var shortcut = conv_shortcut is null ? x : conv_shortcut.forward(x);
        return shortcut.add(h, Scalars.One).MoveToOuterDisposeScope();
    }
}
