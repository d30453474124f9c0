using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>diffusers' <c>DownBlock2D</c>: ResNets, then (except at the last level) a stride-2 conv.</summary>
/// <remarks>Keys: <c>resnets.{i}</c>, <c>downsamplers.0.conv</c>.</remarks>
public sealed class DownBlock2D : nn.Module, IUNetDownBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Downsample2D>? downsamplers;

    /// <summary>Creates the level.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="tembChannels">Width of the time embedding.</param>
    /// <param name="layers">Number of ResNets.</param>
    /// <param name="addDownsample">Whether the level halves H and W.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">GroupNorm epsilon.</param>
    /// <param name="outputScaleFactor">ResNet output scale.</param>
    /// <param name="downsamplePadding">Padding of the downsample conv.</param>
    public DownBlock2D(string name, long inChannels, long outChannels, long tembChannels, int layers, bool addDownsample,
        int groups, double eps, double outputScaleFactor, int downsamplePadding) : base(name)
    {
        resnets = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i.ToString(), i == 0 ? inChannels : outChannels, outChannels, tembChannels, groups, eps,
                outputScaleFactor: outputScaleFactor))
            .ToArray());
        if (addDownsample) downsamplers = nn.ModuleList(new Downsample2D("0", outChannels, outChannels, downsamplePadding));
        RegisterComponents();
    }

    /// <inheritdoc />
    public Tensor[] Forward(Tensor x, Tensor temb, Tensor context, AttentionCache? cache)
    {
        // x: [B, Cin, H, W], temb: [B, Temb] -> skips: layers x [B, Cout, H, W] (+ [B, Cout, H/2, W/2])
        using var scope = NewDisposeScope();
        var skips = new List<Tensor>();
        var h = x;
        foreach (var resnet in resnets)
        {
            h = resnet.call(h, temb);
            skips.Add(h);
        }
        if (downsamplers is not null)
        {
            h = downsamplers[0].forward(h);
            skips.Add(h);
        }
        foreach (var s in skips) s.MoveToOuterDisposeScope();
        return skips.ToArray();
    }

    /// <inheritdoc/>
    public string[] ExportOnnx(OnnxGraph g, string key, string x, string temb, string context)
    {
        // x: [B, Cin, H, W], temb: [B, Temb] -> skips: layers x [B, Cout, H, W] (+ [B, Cout, H/2, W/2])
        var skips = new List<string>();
        string h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = resnets[i].ExportOnnx(g, $"{key}.resnets.{i}", h, temb);
            skips.Add(h);
        }
        if (downsamplers is not null) skips.Add(downsamplers[0].ExportOnnx(g, $"{key}.downsamplers.0", h));
        return [.. skips];
    }
}
