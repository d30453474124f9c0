using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>One stage of <see cref="ClipImageTower"/>: residual blocks (<c>resnets</c>), then an optional stride-2 conv (<c>downsamplers.0</c>).</summary>
public sealed class ClipImageDownBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ClipImageResnetBlock> resnets;
    private readonly ModuleList<Conv2d> downsamplers;

    /// <summary>Creates the stage.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="layers">Residual blocks.</param>
    /// <param name="downsample">Whether to halve H and W at the end.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">GroupNorm epsilon.</param>
    public ClipImageDownBlock(int inChannels, int outChannels, int layers, bool downsample, int groups, double eps)
        : base(nameof(ClipImageDownBlock))
    {
        resnets = new ModuleList<ClipImageResnetBlock>();
        for (int j = 0; j < layers; j++)
            resnets.Add(new ClipImageResnetBlock(j == 0 ? inChannels : outChannels, outChannels, groups, eps));
        downsamplers = new ModuleList<Conv2d>();
        if (downsample)
            downsamplers.Add(nn.Conv2d(outChannels, outChannels, 3, stride: 2, padding: 1));
        RegisterComponents();
    }

    /// <summary>Applies the stage.</summary>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <returns>[B, Cout, H/2, W/2] when downsampling, else [B, Cout, H, W].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, Cin, H, W] -> [B, Cout, H', W']
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var resnet in resnets) h = resnet.forward(h);
        foreach (var down in downsamplers) h = down.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
