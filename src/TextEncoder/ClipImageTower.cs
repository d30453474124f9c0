using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>
/// The image tower of our CLIP (the <c>vision_model</c> of <see cref="ClipModel"/>): a GroupNorm ResNet that maps
/// 64px images to one pooled vector; see <see cref="ClipImageTowerConfig"/> for why it is not a ViT.
/// </summary>
/// <remarks>
/// <c>conv_in</c> (3x3, stride 1 or 2) -> per stage i: <c>down_blocks.{i}.resnets.{j}</c>, then <c>down_blocks.{i}.downsamplers.0</c>
/// (3x3 stride-2 conv) except after the last stage -> <c>norm_out</c> + SiLU -> mean over H and W.
/// </remarks>
public sealed class ClipImageTower : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly ModuleList<ClipImageDownBlock> down_blocks;
    private readonly GroupNorm norm_out;
    private readonly int imageSize;
    private readonly int inChannels;

    /// <summary>Creates the tower with PyTorch's default initialisation (GroupNorm at 1 and 0).</summary>
    /// <param name="config">The config; validated here.</param>
    /// <exception cref="ArgumentException">A config value is out of range.</exception>
    public ClipImageTower(ClipImageTowerConfig config) : base(nameof(ClipImageTower))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        int[] channels = config.BlockOutChannels;
        conv_in = nn.Conv2d(config.InChannels, channels[0], 3, stride: config.ConvInStride, padding: 1);
        down_blocks = new ModuleList<ClipImageDownBlock>();
        for (int i = 0; i < channels.Length; i++)
        {
            int input = i == 0 ? channels[0] : channels[i - 1];
            bool last = i == channels.Length - 1;
            down_blocks.Add(new ClipImageDownBlock(input, channels[i], config.LayersPerBlock, downsample: !last,
                config.NormNumGroups, config.NormEps));
        }
        norm_out = Layers.GroupNorm(config.NormNumGroups, channels[^1], config.NormEps);
        imageSize = config.ImageSize;
        inChannels = config.InChannels;
        RegisterComponents();
    }

    /// <summary>Encodes images into pooled states.</summary>
    /// <param name="pixels">[B, 3, S, S] in [-1, 1], S = the config's image size.</param>
    /// <returns>[B, C_last].</returns>
    /// <exception cref="ArgumentException"><paramref name="pixels"/> does not have the configured shape.</exception>
    public override Tensor forward(Tensor pixels)
    {
        // pixels: [B, 3, S, S] -> [B, C_last]
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.dim() != 4 || pixels.shape[1] != inChannels || pixels.shape[2] != imageSize || pixels.shape[3] != imageSize)
            throw new ArgumentException(
                $"pixels must be [B, {inChannels}, {imageSize}, {imageSize}]; got [{string.Join(", ", pixels.shape)}].", nameof(pixels));
        using var scope = NewDisposeScope();
        var h = conv_in.forward(pixels);                            // [B, C0, S / s, S / s], s = conv_in stride
        foreach (var block in down_blocks) h = block.forward(h);    // [B, C_last, S / (s 2^(n-1)), S / (s 2^(n-1))]
        h = nn.functional.silu(norm_out.forward(h));
        return h.mean([2L, 3L]).MoveToOuterDisposeScope();          // [B, C_last, h, w] -> [B, C_last]
    }
}
