using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>CrossAttnUpBlock2D</c>: (ResNet, Transformer2DModel) pairs, each ResNet over the running state
/// concatenated with a skip (popped from the end), then (except at the last level) nearest 2x + conv.
/// </summary>
/// <remarks>Keys: <c>resnets.{i}</c>, <c>attentions.{i}</c>, <c>upsamplers.0.conv</c>.</remarks>
public sealed class CrossAttnUpBlock2D : nn.Module, IUNetUpBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel> attentions;
    private readonly ModuleList<Upsample2D>? upsamplers;

    /// <summary>Creates the level.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Channels of the down level's input (the width of this level's last skip).</param>
    /// <param name="prevOutputChannels">Channels of the state coming from below.</param>
    /// <param name="outChannels">Output channels (heads * head width in the transformers).</param>
    /// <param name="tembChannels">Width of the time embedding.</param>
    /// <param name="layers">Number of (ResNet, transformer) pairs (the down level's count + 1).</param>
    /// <param name="transformerLayers">Transformer blocks per Transformer2DModel.</param>
    /// <param name="heads">Attention heads; the head width is outChannels / heads.</param>
    /// <param name="crossAttentionDim">Width D of the text states.</param>
    /// <param name="addUpsample">Whether the level doubles H and W.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">ResNet GroupNorm epsilon.</param>
    /// <param name="outputScaleFactor">ResNet output scale.</param>
    /// <param name="useLinearProjection">Linear transformer projections.</param>
    /// <param name="onlyCrossAttention">Self-attention replaced by cross-attention.</param>
    /// <param name="upcastAttention">Softmax in float32 for half-precision modules.</param>
    public CrossAttnUpBlock2D(string name, long inChannels, long prevOutputChannels, long outChannels, long tembChannels, int layers,
        int transformerLayers, int heads, long crossAttentionDim, bool addUpsample, int groups, double eps, double outputScaleFactor,
        bool useLinearProjection, bool onlyCrossAttention, bool upcastAttention) : base(name)
    {
        resnets = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i.ToString(), (i == 0 ? prevOutputChannels : outChannels) + (i == layers - 1 ? inChannels : outChannels),
                outChannels, tembChannels, groups, eps, outputScaleFactor: outputScaleFactor))
            .ToArray());
        attentions = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(i => new Transformer2DModel(i.ToString(), heads, outChannels / heads, outChannels, transformerLayers, crossAttentionDim,
                groups, useLinearProjection, onlyCrossAttention, upcastAttention))
            .ToArray());
        if (addUpsample) upsamplers = nn.ModuleList(new Upsample2D("0", outChannels, outChannels));
        RegisterComponents();
    }

    /// <inheritdoc />
    public int SkipCount => resnets.Count;

    /// <inheritdoc />
    public Tensor Forward(Tensor x, IReadOnlyList<Tensor> skips, Tensor temb, Tensor context, AttentionCache? cache)
    {
        // x: [B, Cprev, H, W], skips: SkipCount x [B, Cskip, H, W], context: [B, T, D] -> [B, Cout, 2H, 2W] (or H, W at the top)
        if (skips.Count != SkipCount)
            throw new ArgumentException($"CrossAttnUpBlock2D expects {SkipCount} skips; got {skips.Count}", nameof(skips));
        using var scope = NewDisposeScope();
        var h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = cat([h, skips[skips.Count - 1 - i]], 1); // [B, C, H, W] + [B, Cskip, H, W] -> [B, C + Cskip, H, W]
            h = resnets[i].call(h, temb);
            h = attentions[i].Forward(h, context, cache);
        }
        if (upsamplers is not null) h = upsamplers[0].forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public string ExportOnnx(OnnxGraph g, string key, string x, IReadOnlyList<string> skips, string temb, string context)
    {
        // x: [B, Cprev, H, W], skips: SkipCount x [B, Cskip, H, W] -> [B, Cout, 2H, 2W] (or H, W at the top)
        if (skips.Count != SkipCount)
            throw new ArgumentException($"CrossAttnUpBlock2D expects {SkipCount} skips; got {skips.Count}", nameof(skips));
        string h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = g.Node("Concat", [h, skips[skips.Count - 1 - i]], OnnxAttribute.Int("axis", 1)); // -> [B, C + Cskip, H, W]
            h = resnets[i].ExportOnnx(g, $"{key}.resnets.{i}", h, temb);
            h = attentions[i].ExportOnnx(g, $"{key}.attentions.{i}", h, context);
        }
        return upsamplers is null ? h : upsamplers[0].ExportOnnx(g, $"{key}.upsamplers.0", h);
    }
}
