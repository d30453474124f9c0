using Latent.Core.Onnx;
using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Vae;

/// <summary>
/// diffusers' <c>UpDecoderBlock2D</c>: <c>numLayers</c> ResNet blocks without time embedding, then (except at the last
/// level) a nearest 2x + conv <see cref="Upsample2D"/>.
/// </summary>
/// <remarks>Keys: <c>resnets.{i}</c>, <c>upsamplers.0.conv</c> (only with an upsampler).</remarks>
public sealed class UpDecoderBlock2D : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Upsample2D>? upsamplers;

    /// <summary>Creates the block.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Input channels (the previous, deeper level's width).</param>
    /// <param name="outChannels">This level's width.</param>
    /// <param name="numLayers">ResNet blocks (the config's <c>layers_per_block + 1</c>).</param>
    /// <param name="addUpsample">Whether to double H and W at the end (all levels but the last).</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">GroupNorm epsilon (1e-6 in diffusers' VAE).</param>
    public UpDecoderBlock2D(string name, long inChannels, long outChannels, int numLayers, bool addUpsample, int groups, double eps = 1e-6)
        : base(name)
    {
        if (numLayers <= 0)
            throw new ArgumentException($"UpDecoderBlock2D needs numLayers > 0; got {numLayers}", nameof(numLayers));
        var blocks = new ResnetBlock2D[numLayers];
        for (int i = 0; i < numLayers; i++)
            blocks[i] = new ResnetBlock2D($"resnets.{i}", i == 0 ? inChannels : outChannels, outChannels, tembChannels: null, groups, eps);
        resnets = nn.ModuleList(blocks);
        if (addUpsample)
            upsamplers = nn.ModuleList(new Upsample2D("upsampler", outChannels, outChannels));
        RegisterComponents();
    }

    /// <summary>Applies the ResNets and the upsampler.</summary>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <returns>[B, Cout, 2H, 2W] with an upsampler, [B, Cout, H, W] without.</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, Cin, H, W] -> [B, Cout, H, W] -> [B, Cout, 2H, 2W]
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var resnet in resnets)
            h = resnet.forward(h, null);
        if (upsamplers is not null)
            h = upsamplers[0].forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "decoder.up_blocks.0".</param>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <returns>[B, Cout, 2H, 2W] with an upsampler, [B, Cout, H, W] without.</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        for (int i = 0; i < resnets.Count; i++) x = resnets[i].ExportOnnx(g, $"{key}.resnets.{i}", x, null);
        return upsamplers is null ? x : upsamplers[0].ExportOnnx(g, $"{key}.upsamplers.0", x);
    }
}
