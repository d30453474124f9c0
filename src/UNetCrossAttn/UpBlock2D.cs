using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>UpBlock2D</c>: ResNets, each over the running state concatenated with a skip (popped from the end),
/// then (except at the last level) nearest 2x + conv.
/// </summary>
/// <remarks>Keys: <c>resnets.{i}</c>, <c>upsamplers.0.conv</c>.</remarks>
public sealed class UpBlock2D : nn.Module, IUNetUpBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Upsample2D>? upsamplers;

    /// <summary>Creates the level.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Channels of the down level's input (the width of this level's last skip).</param>
    /// <param name="prevOutputChannels">Channels of the state coming from below.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="tembChannels">Width of the time embedding.</param>
    /// <param name="layers">Number of ResNets (the down level's count + 1).</param>
    /// <param name="addUpsample">Whether the level doubles H and W.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">GroupNorm epsilon.</param>
    /// <param name="outputScaleFactor">ResNet output scale.</param>
    public UpBlock2D(string name, long inChannels, long prevOutputChannels, long outChannels, long tembChannels, int layers,
        bool addUpsample, int groups, double eps, double outputScaleFactor) : base(name)
    {
        // ResNet i sees [running state; skip]: the state is prev (i = 0) or out; the last skip comes from the level above (in).
        resnets = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(i => new ResnetBlock2D(i.ToString(), (i == 0 ? prevOutputChannels : outChannels) + (i == layers - 1 ? inChannels : outChannels),
                outChannels, tembChannels, groups, eps, outputScaleFactor: outputScaleFactor))
            .ToArray());
        if (addUpsample) upsamplers = nn.ModuleList(new Upsample2D("0", outChannels, outChannels));
        RegisterComponents();
    }

    /// <inheritdoc />
    public int SkipCount => resnets.Count;

    /// <inheritdoc />
    public Tensor Forward(Tensor x, IReadOnlyList<Tensor> skips, Tensor temb, Tensor context, AttentionCache? cache)
    {
        // x: [B, Cprev, H, W], skips: SkipCount x [B, Cskip, H, W] -> [B, Cout, 2H, 2W] (or [B, Cout, H, W] at the top)
        if (skips.Count != SkipCount)
            throw new ArgumentException($"UpBlock2D expects {SkipCount} skips; got {skips.Count}", nameof(skips));
        using var scope = NewDisposeScope();
        var h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = cat([h, skips[skips.Count - 1 - i]], 1); // [B, C, H, W] + [B, Cskip, H, W] -> [B, C + Cskip, H, W]
            h = resnets[i].call(h, temb);
        }
        if (upsamplers is not null) h = upsamplers[0].forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public string ExportOnnx(OnnxGraph g, string key, string x, IReadOnlyList<string> skips, string temb, string context)
    {
        // x: [B, Cprev, H, W], skips: SkipCount x [B, Cskip, H, W] -> [B, Cout, 2H, 2W] (or H, W at the top)
        if (skips.Count != SkipCount)
            throw new ArgumentException($"UpBlock2D expects {SkipCount} skips; got {skips.Count}", nameof(skips));
        string h = x;
        for (int i = 0; i < resnets.Count; i++)
        {
            h = g.Node("Concat", [h, skips[skips.Count - 1 - i]], OnnxAttribute.Int("axis", 1)); // -> [B, C + Cskip, H, W]
            h = resnets[i].ExportOnnx(g, $"{key}.resnets.{i}", h, temb);
        }
        return upsamplers is null ? h : upsamplers[0].ExportOnnx(g, $"{key}.upsamplers.0", h);
    }
}
