using Latent.Core.Onnx;
using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Vae;

/// <summary>
/// diffusers' VAE <c>Encoder</c> (with <c>double_z=True</c>): conv_in, one <see cref="DownEncoderBlock2D"/> per level,
/// the <see cref="UNetMidBlock2D"/>, then GroupNorm, SiLU and conv_out to 2 * latent channels (mean and log-variance).
/// </summary>
/// <remarks>Keys: <c>conv_in</c>, <c>down_blocks.{i}</c>, <c>mid_block</c>, <c>conv_norm_out</c>, <c>conv_out</c>.</remarks>
public sealed class Encoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly ModuleList<DownEncoderBlock2D> down_blocks;
    private readonly UNetMidBlock2D mid_block;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    /// <summary>Creates the encoder of <paramref name="config"/> (validated by the caller).</summary>
    /// <param name="name">Module name.</param>
    /// <param name="config">The VAE config.</param>
    public Encoder(string name, VaeConfig config) : base(name)
    {
        int[] widths = config.BlockOutChannels;
        int groups = config.NormNumGroups;
        conv_in = nn.Conv2d(config.InChannels, widths[0], 3, padding: 1);
        var blocks = new DownEncoderBlock2D[widths.Length];
        int input = widths[0];
        for (int i = 0; i < widths.Length; i++)
        {
            bool isFinal = i == widths.Length - 1;
            blocks[i] = new DownEncoderBlock2D($"down_blocks.{i}", input, widths[i], config.LayersPerBlock, addDownsample: !isFinal, groups);
            input = widths[i];
        }
        down_blocks = nn.ModuleList(blocks);
        mid_block = new UNetMidBlock2D("mid_block", widths[^1], groups);
        conv_norm_out = Layers.GroupNorm(groups, widths[^1], 1e-6);
        conv_out = nn.Conv2d(widths[^1], 2 * config.LatentChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>Encodes images to the posterior's moments.</summary>
    /// <param name="x">[B, Cin, H, W] images in [-1, 1].</param>
    /// <returns>[B, 2 * latent, H / f, W / f]: mean and raw log-variance, before <c>quant_conv</c>.</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, Cin, H, W] -> [B, C0, H, W] -> ... -> [B, C_last, H/f, W/f] -> [B, 2*latent, H/f, W/f]
        using var scope = NewDisposeScope();
        var h = conv_in.forward(x);
        foreach (var block in down_blocks)
            h = block.forward(h);
        h = mid_block.forward(h);
        h = conv_out.forward(nn.functional.silu(conv_norm_out.forward(h)));
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes the encoder into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, "encoder".</param>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <returns>[B, 2 * latent, H/f, W/f] (before quant_conv).</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        string h = g.Conv($"{key}.conv_in", conv_in, x, padding: 1);
        for (int i = 0; i < down_blocks.Count; i++) h = down_blocks[i].ExportOnnx(g, $"{key}.down_blocks.{i}", h);
        h = mid_block.ExportOnnx(g, $"{key}.mid_block", h);
        return g.Conv($"{key}.conv_out", conv_out, g.Silu(g.GroupNorm($"{key}.conv_norm_out", conv_norm_out, h)), padding: 1);
    }
}
