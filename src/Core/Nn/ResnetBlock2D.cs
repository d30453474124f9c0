using Latent.Core.Engine;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Nn;

/// <summary>
/// diffusers' <c>ResnetBlock2D</c> with <c>time_embedding_norm="default"</c> and the swish (SiLU) activation: two
/// GroupNorm-SiLU-conv3x3 stages, an optional time-embedding bias between them, and a residual connection.
/// </summary>
/// <remarks>
/// <c>h = conv1(silu(norm1(x)))</c>; <c>h += time_emb_proj(silu(temb))[:, :, None, None]</c> when a time embedding is
/// given; <c>h = conv2(dropout(silu(norm2(h))))</c>; output <c>(shortcut(x) + h) / output_scale_factor</c>, where
/// <c>shortcut</c> is a 1x1 conv when the channel count changes and the identity otherwise.
/// State-dict keys: <c>norm1</c>, <c>conv1</c>, <c>time_emb_proj</c> (only with <c>tembChannels</c>), <c>norm2</c>,
/// <c>conv2</c>, <c>conv_shortcut</c> (only when in != out).
/// </remarks>
public sealed class ResnetBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNorm norm1;
    private readonly Conv2d conv1;
    private readonly Linear? time_emb_proj;
    private readonly GroupNorm norm2;
    private readonly Dropout dropout;
    private readonly Conv2d conv2;
    private readonly Conv2d? conv_shortcut;
    private readonly double outputScaleFactor;

    /// <summary>Creates the block with freshly initialised weights.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Input channels Cin (divisible by <paramref name="groups"/>).</param>
    /// <param name="outChannels">Output channels Cout (divisible by <paramref name="groups"/>).</param>
    /// <param name="tembChannels">Width of the time embedding, or null for a block without one (the VAE's).</param>
    /// <param name="groups">GroupNorm groups for both norms (diffusers' default 32).</param>
    /// <param name="eps">GroupNorm epsilon (diffusers' default 1e-6).</param>
    /// <param name="dropout">Dropout probability before <c>conv2</c>.</param>
    /// <param name="outputScaleFactor">The residual sum is divided by this (1 in SD).</param>
    /// <exception cref="ArgumentException">A channel count is not positive or not divisible by the groups, or the scale is not positive.</exception>
    public ResnetBlock2D(string name, long inChannels, long outChannels, long? tembChannels, int groups = 32,
        double eps = 1e-6, double dropout = 0.0, double outputScaleFactor = 1.0) : base(name)
    {
        if (inChannels <= 0 || outChannels <= 0)
            throw new ArgumentException($"ResnetBlock2D needs positive channel counts; got in={inChannels}, out={outChannels}");
        if (tembChannels is <= 0)
            throw new ArgumentException($"ResnetBlock2D needs tembChannels > 0 or null; got {tembChannels}", nameof(tembChannels));
        if (dropout < 0 || dropout >= 1)
            throw new ArgumentException($"ResnetBlock2D needs dropout in [0, 1); got {dropout}", nameof(dropout));
        if (!(outputScaleFactor > 0))
            throw new ArgumentException($"ResnetBlock2D needs outputScaleFactor > 0; got {outputScaleFactor}", nameof(outputScaleFactor));
        norm1 = Layers.GroupNorm(groups, inChannels, eps);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        if (tembChannels is long t)
            time_emb_proj = nn.Linear(t, outChannels);
        norm2 = Layers.GroupNorm(groups, outChannels, eps);
        this.dropout = nn.Dropout(dropout);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels)
            conv_shortcut = nn.Conv2d(inChannels, outChannels, 1);
        this.outputScaleFactor = outputScaleFactor;
        RegisterComponents();
    }

    /// <summary>Applies the block.</summary>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <param name="temb">[B, Temb] time embedding (before the activation), or null (then no time bias is added, as in diffusers).</param>
    /// <returns>[B, Cout, H, W].</returns>
    /// <exception cref="ArgumentException">A time embedding is given to a block built without <c>tembChannels</c>.</exception>
    public override Tensor forward(Tensor x, Tensor? temb)
    {
        // x: [B, Cin, H, W], temb: [B, Temb] or null -> [B, Cout, H, W]
        if (temb is not null && time_emb_proj is null)
            throw new ArgumentException("ResnetBlock2D was built without tembChannels but got a time embedding", nameof(temb));
        using var scope = NewDisposeScope();
        var h = conv1.forward(nn.functional.silu(norm1.forward(x)));
        if (temb is not null)
        {
            // [B, Temb] -> [B, Cout] -> [B, Cout, 1, 1]
            var t = time_emb_proj!.forward(nn.functional.silu(temb));
            h = h.add(t.unsqueeze(-1).unsqueeze(-1), Scalars.One);
        }
        h = conv2.forward(dropout.forward(nn.functional.silu(norm2.forward(h))));
        var shortcut = conv_shortcut is null ? x : conv_shortcut.forward(x);
        var output = shortcut.add(h, Scalars.One);
        if (outputScaleFactor != 1.0)
            output = output / Scalars.Of(outputScaleFactor);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block's forward (eval mode) into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">This block's state-dict prefix, e.g. "down_blocks.0.resnets.1".</param>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <param name="temb">[B, Temb], or null.</param>
    /// <returns>[B, Cout, H, W].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x, string? temb)
    {
        // x: [B, Cin, H, W], temb: [B, Temb] -> [B, Cout, H, W]; dropout is the identity in eval mode.
        if (temb is not null && time_emb_proj is null)
            throw new ArgumentException("ResnetBlock2D was built without tembChannels but got a time embedding", nameof(temb));
        string h = g.Conv($"{key}.conv1", conv1, g.Silu(g.GroupNorm($"{key}.norm1", norm1, x)), padding: 1);
        if (temb is not null)
        {
            // [B, Temb] -> [B, Cout] -> [B, Cout, 1, 1]
            string t = g.Linear($"{key}.time_emb_proj", time_emb_proj!, g.Silu(temb));
            h = g.Node("Add", [h, g.Node("Reshape", [t, g.Ints("shape_c11", 0, -1, 1, 1)])]);
        }
        h = g.Conv($"{key}.conv2", conv2, g.Silu(g.GroupNorm($"{key}.norm2", norm2, h)), padding: 1);
        string shortcut = conv_shortcut is null ? x : g.Conv($"{key}.conv_shortcut", conv_shortcut, x);
        string output = g.Node("Add", [shortcut, h]);
        return outputScaleFactor == 1.0 ? output : g.Node("Div", [output, g.Scalar("output_scale_factor", outputScaleFactor)]);
    }
}
