using Latent.Core.Onnx;
using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Vae;

/// <summary>
/// diffusers' VAE <c>Decoder</c>: conv_in from the latent channels, the <see cref="UNetMidBlock2D"/>, one
/// <see cref="UpDecoderBlock2D"/> per level from the deepest up (each with <c>layers_per_block + 1</c> ResNets), then
/// GroupNorm, SiLU and conv_out to image channels.
/// </summary>
/// <remarks>Keys: <c>conv_in</c>, <c>mid_block</c>, <c>up_blocks.{i}</c>, <c>conv_norm_out</c>, <c>conv_out</c>.</remarks>
public sealed class Decoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly UNetMidBlock2D mid_block;
    private readonly ModuleList<UpDecoderBlock2D> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    /// <summary>Creates the decoder of <paramref name="config"/> (validated by the caller).</summary>
    /// <param name="name">Module name.</param>
    /// <param name="config">The VAE config.</param>
    public Decoder(string name, VaeConfig config) : base(name)
    {
        int[] reversed = config.BlockOutChannels.Reverse().ToArray();
        int groups = config.NormNumGroups;
        conv_in = nn.Conv2d(config.LatentChannels, reversed[0], 3, padding: 1);
        mid_block = new UNetMidBlock2D("mid_block", reversed[0], groups);
        var blocks = new UpDecoderBlock2D[reversed.Length];
        int output = reversed[0];
        for (int i = 0; i < reversed.Length; i++)
        {
            int previous = output;
            output = reversed[i];
            bool isFinal = i == reversed.Length - 1;
            blocks[i] = new UpDecoderBlock2D($"up_blocks.{i}", previous, output, config.LayersPerBlock + 1, addUpsample: !isFinal, groups);
        }
        up_blocks = nn.ModuleList(blocks);
        conv_norm_out = Layers.GroupNorm(groups, reversed[^1], 1e-6);
        conv_out = nn.Conv2d(reversed[^1], config.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>Decodes latents (after <c>post_quant_conv</c>) to images.</summary>
    /// <param name="z">[B, latent, h, w].</param>
    /// <returns>[B, Cout, h * f, w * f], images in about [-1, 1].</returns>
    public override Tensor forward(Tensor z)
    {
        // z: [B, latent, h, w] -> [B, C_last, h, w] -> ... -> [B, C0, h*f, w*f] -> [B, Cout, h*f, w*f]
        using var scope = NewDisposeScope();
        var h = conv_in.forward(z);
        h = mid_block.forward(h);
        foreach (var block in up_blocks)
            h = block.forward(h);
        h = conv_out.forward(nn.functional.silu(conv_norm_out.forward(h)));
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes the decoder into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, "decoder".</param>
    /// <param name="z">[B, latent, h, w] (after post_quant_conv).</param>
    /// <returns>[B, Cout, h*f, w*f].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string z)
    {
        string h = g.Conv($"{key}.conv_in", conv_in, z, padding: 1);
        h = mid_block.ExportOnnx(g, $"{key}.mid_block", h);
        for (int i = 0; i < up_blocks.Count; i++) h = up_blocks[i].ExportOnnx(g, $"{key}.up_blocks.{i}", h);
        return g.Conv($"{key}.conv_out", conv_out, g.Silu(g.GroupNorm($"{key}.conv_norm_out", conv_norm_out, h)), padding: 1);
    }
}
