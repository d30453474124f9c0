using Latent.Core.Onnx;
using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Vae;

/// <summary>
/// diffusers' <c>DownEncoderBlock2D</c>: <c>numLayers</c> ResNet blocks without time embedding, then (except at the
/// last level) the VAE's asymmetric-padding stride-2 <see cref="Downsample2D"/>.
/// </summary>
/// <remarks>Keys: <c>resnets.{i}</c>, <c>downsamplers.0.conv</c> (only with a downsampler).</remarks>
public sealed class DownEncoderBlock2D : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Downsample2D>? downsamplers;

    /// <summary>Creates the block.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Input channels (the previous level's width).</param>
    /// <param name="outChannels">This level's width.</param>
    /// <param name="numLayers">ResNet blocks (the config's <c>layers_per_block</c>).</param>
    /// <param name="addDownsample">Whether to halve H and W at the end (all levels but the last).</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">GroupNorm epsilon (1e-6 in diffusers' VAE).</param>
    public DownEncoderBlock2D(string name, long inChannels, long outChannels, int numLayers, bool addDownsample, int groups, double eps = 1e-6)
        : base(name)
    {
        if (numLayers <= 0)
            throw new ArgumentException($"DownEncoderBlock2D needs numLayers > 0; got {numLayers}", nameof(numLayers));
        var blocks = new ResnetBlock2D[numLayers];
        for (int i = 0; i < numLayers; i++)
            blocks[i] = new ResnetBlock2D($"resnets.{i}", i == 0 ? inChannels : outChannels, outChannels, tembChannels: null, groups, eps);
        resnets = nn.ModuleList(blocks);
        if (addDownsample)
            downsamplers = nn.ModuleList(new Downsample2D("op", outChannels, outChannels, padding: 0));
        RegisterComponents();
    }

    /// <summary>Applies the ResNets and the downsampler.</summary>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <returns>[B, Cout, H/2, W/2] with a downsampler, [B, Cout, H, W] without.</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, Cin, H, W] -> [B, Cout, H, W] -> [B, Cout, H/2, W/2]
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var resnet in resnets)
            h = resnet.forward(h, null);
        if (downsamplers is not null)
            h = downsamplers[0].forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "encoder.down_blocks.0".</param>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <returns>[B, Cout, H/2, W/2] with a downsampler, [B, Cout, H, W] without.</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        for (int i = 0; i < resnets.Count; i++) x = resnets[i].ExportOnnx(g, $"{key}.resnets.{i}", x, null);
        return downsamplers is null ? x : downsamplers[0].ExportOnnx(g, $"{key}.downsamplers.0", x);
    }
}
