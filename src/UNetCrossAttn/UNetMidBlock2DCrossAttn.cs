using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>UNetMidBlock2DCrossAttn</c> at the lowest resolution: a ResNet, then one (Transformer2DModel, ResNet) pair.
/// </summary>
/// <remarks>Keys: <c>resnets.0</c>, <c>attentions.0</c>, <c>resnets.1</c>. The ResNets' outputs are divided by mid_block_scale_factor.</remarks>
public sealed class UNetMidBlock2DCrossAttn : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel> attentions;

    /// <summary>Creates the block.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="channels">Channels C (block_out_channels[-1]).</param>
    /// <param name="tembChannels">Width of the time embedding.</param>
    /// <param name="transformerLayers">Transformer blocks in the Transformer2DModel.</param>
    /// <param name="heads">Attention heads; the head width is channels / heads.</param>
    /// <param name="crossAttentionDim">Width D of the text states.</param>
    /// <param name="groups">GroupNorm groups.</param>
    /// <param name="eps">ResNet GroupNorm epsilon.</param>
    /// <param name="outputScaleFactor">ResNet output scale (mid_block_scale_factor).</param>
    /// <param name="useLinearProjection">Linear transformer projections.</param>
    /// <param name="upcastAttention">Softmax in float32 for half-precision modules.</param>
    public UNetMidBlock2DCrossAttn(string name, long channels, long tembChannels, int transformerLayers, int heads, long crossAttentionDim,
        int groups, double eps, double outputScaleFactor, bool useLinearProjection, bool upcastAttention) : base(name)
    {
        resnets = nn.ModuleList(
            new ResnetBlock2D("0", channels, channels, tembChannels, groups, eps, outputScaleFactor: outputScaleFactor),
            new ResnetBlock2D("1", channels, channels, tembChannels, groups, eps, outputScaleFactor: outputScaleFactor));
        attentions = nn.ModuleList(new Transformer2DModel("0", heads, channels / heads, channels, transformerLayers, crossAttentionDim,
            groups, useLinearProjection, onlyCrossAttention: false, upcastAttention));
        RegisterComponents();
    }

    /// <summary>Applies the block.</summary>
    /// <param name="x">[B, C, H, W].</param>
    /// <param name="temb">[B, Temb] time embedding.</param>
    /// <param name="context">[B, T, D] text states.</param>
    /// <returns>[B, C, H, W].</returns>
    public override Tensor forward(Tensor x, Tensor temb, Tensor context) => Forward(x, temb, context, null);

    /// <summary>As <see cref="forward"/>, with per-generation attention precomputations.</summary>
    /// <param name="x">[B, C, H, W].</param>
    /// <param name="temb">[B, Temb].</param>
    /// <param name="context">[B, T, D] text states.</param>
    /// <param name="cache">Per-generation attention precomputations (text keys and values, fused q/k/v), or null.</param>
    /// <returns>[B, C, H, W].</returns>
    public Tensor Forward(Tensor x, Tensor temb, Tensor context, AttentionCache? cache)
    {
        // x: [B, C, H, W], temb: [B, Temb], context: [B, T, D] -> [B, C, H, W]
        using var scope = NewDisposeScope();
        var h = resnets[0].call(x, temb);
        h = attentions[0].Forward(h, context, cache);
        h = resnets[1].call(h, temb);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix ("mid_block").</param>
    /// <param name="x">[B, C, H, W].</param>
    /// <param name="temb">[B, Temb].</param>
    /// <param name="context">[B, T, D].</param>
    /// <returns>[B, C, H, W].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x, string temb, string context)
    {
        // x: [B, C, H, W], temb: [B, Temb], context: [B, T, D] -> [B, C, H, W]
        string h = resnets[0].ExportOnnx(g, $"{key}.resnets.0", x, temb);
        h = attentions[0].ExportOnnx(g, $"{key}.attentions.0", h, context);
        return resnets[1].ExportOnnx(g, $"{key}.resnets.1", h, temb);
    }
}
