using Latent.Core.Onnx;
using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Vae;

/// <summary>
/// diffusers' <c>UNetMidBlock2D</c> as the VAE builds it: ResNet, single-head self-attention over all H*W positions
/// (with its own GroupNorm and a residual connection), ResNet; channels and size unchanged.
/// </summary>
/// <remarks>
/// The attention has one head of width C (<c>attention_head_dim = C</c>), biased q/k/v projections and the ResNets'
/// GroupNorm settings, as diffusers' AutoencoderKL configures it. The VAE passes no time embedding, so none is taken.
/// Keys: <c>resnets.0</c>, <c>attentions.0</c>, <c>resnets.1</c>.
/// </remarks>
public sealed class UNetMidBlock2D : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Attention> attentions;

    /// <summary>Creates the block.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="channels">Channels C (the deepest level's width).</param>
    /// <param name="groups">GroupNorm groups of the ResNets and the attention.</param>
    /// <param name="eps">GroupNorm epsilon (1e-6 in diffusers' VAE).</param>
    public UNetMidBlock2D(string name, long channels, int groups, double eps = 1e-6) : base(name)
    {
        resnets = nn.ModuleList(
            new ResnetBlock2D("resnets.0", channels, channels, tembChannels: null, groups, eps),
            new ResnetBlock2D("resnets.1", channels, channels, tembChannels: null, groups, eps));
        attentions = nn.ModuleList(
            new Attention("attentions.0", channels, heads: 1, dimHead: channels, bias: true, normGroups: groups, normEps: eps,
                residualConnection: true));
        RegisterComponents();
    }

    /// <summary>Applies ResNet, attention, ResNet.</summary>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, C, H, W].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, C, H, W] -> [B, C, H, W] (attention over the H*W positions)
        using var scope = NewDisposeScope();
        var h = resnets[0].forward(x, null);
        h = attentions[0].forward(h, null);
        h = resnets[1].forward(h, null);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "decoder.mid_block".</param>
    /// <param name="x">[B, C, H, W].</param>
    /// <returns>[B, C, H, W].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        string h = resnets[0].ExportOnnx(g, $"{key}.resnets.0", x, null);
        h = attentions[0].ExportSpatialOnnx(g, $"{key}.attentions.0", h);
        return resnets[1].ExportOnnx(g, $"{key}.resnets.1", h, null);
    }
}
