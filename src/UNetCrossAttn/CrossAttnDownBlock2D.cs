using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>CrossAttnDownBlock2D</c>: (ResNet, Transformer2DModel) pairs, then (except at the last level) a
/// stride-2 conv. Each pair's output is a skip for the up path.
/// </summary>
/// <remarks>Keys: <c>resnets.{i}</c>, <c>attentions.{i}</c>, <c>downsamplers.0.conv</c>.</remarks>
public sealed class CrossAttnDownBlock2D : nn.Module, IUNetDownBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel> attentions;
    private readonly ModuleList<Downsample2D>? downsamplers;

    /// <summary>Creates the level.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels (heads * head width in the transformers).</param>
    /// <param name="tembChannels">Width of the time embedding.</param>
    /// <param name="layers">Number of (ResNet, transformer) pairs.</param>
    /// <param name="transformerLayers">Transformer blocks per Transformer2DModel.</param>
    /// <param name="heads">Attention heads; the head width is outChannels / heads.</param>
    /// <param name="crossAttentionDim">Width D of the text states.</param>
    /// <param name="addDownsample">Whether the level halves H and W.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">ResNet GroupNorm epsilon.</param>
    /// <param name="outputScaleFactor">ResNet output scale.</param>
    /// <param name="downsamplePadding">Padding of the downsample conv.</param>
    /// <param name="useLinearProjection">Linear transformer projections.</param>
    /// <param name="onlyCrossAttention">Self-attention replaced by cross-attention.</param>
    /// <param name="upcastAttention">Softmax in float32 for half-precision modules.</param>
    public CrossAttnDownBlock2D(string name, long inChannels, long outChannels, long tembChannels, int layers, int transformerLayers,
        int heads, long crossAttentionDim, bool addDownsample, int groups, double eps, double outputScaleFactor, int downsamplePadding,
        bool useLinearProjection, bool onlyCrossAttention, bool upcastAttention) : base(name)
    {
        resnets = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i.ToString(), i == 0 ? inChannels : outChannels, outChannels, tembChannels, groups, eps,
                outputScaleFactor: outputScaleFactor))
            .ToArray());
        attentions = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(i => new Transformer2DModel(i.ToString(), heads, outChannels / heads, outChannels, transformerLayers, crossAttentionDim,
                groups, useLinearProjection, onlyCrossAttention, upcastAttention))
            .ToArray());
        if (addDownsample) downsamplers = nn.ModuleList(new Downsample2D("0", outChannels, outChannels, downsamplePadding));
        RegisterComponents();
    }

    /// <inheritdoc />
    public Tensor[] Forward(Tensor x, Tensor temb, Tensor context, AttentionCache? cache)
    {
        // x: [B, Cin, H, W], temb: [B, Temb], context: [B, T, D] -> skips: layers x [B, Cout, H, W] (+ [B, Cout, H/2, W/2])
        using var scope = NewDisposeScope();
        var skips = new List<Tensor>();
        var h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = resnets[i].call(h, temb);
            h = attentions[i].Forward(h, context, cache);
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
        // x: [B, Cin, H, W], temb: [B, Temb], context: [B, T, D] -> skips: layers x [B, Cout, H, W] (+ [B, Cout, H/2, W/2])
        var skips = new List<string>();
        string h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = resnets[i].ExportOnnx(g, $"{key}.resnets.{i}", h, temb);
            h = attentions[i].ExportOnnx(g, $"{key}.attentions.{i}", h, context);
            skips.Add(h);
        }
        if (downsamplers is not null) skips.Add(downsamplers[0].ExportOnnx(g, $"{key}.downsamplers.0", h));
        return [.. skips];
    }
}
