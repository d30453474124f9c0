using Latent.Core.Nn;
using Latent.Core.Onnx;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>An up level of the U-Net (<see cref="UpBlock2D"/> or <see cref="CrossAttnUpBlock2D"/>).</summary>
public interface IUNetUpBlock
{
    /// <summary>How many skips the level consumes (its ResNet count, layers_per_block + 1).</summary>
    int SkipCount { get; }

    /// <summary>Runs the level; each ResNet first concatenates the next skip, popped from the end of <paramref name="skips"/>.</summary>
    /// <param name="x">[B, Cprev, H, W].</param>
    /// <param name="skips"><see cref="SkipCount"/> states from the down path, in the order they were produced.</param>
    /// <param name="temb">[B, Temb] time embedding.</param>
    /// <param name="context">[B, T, D] text states (ignored by levels without attention).</param>
    /// <returns>[B, Cout, 2H, 2W] when the level upsamples, else [B, Cout, H, W]; the caller owns it.</returns>
    /// <param name="cache">Per-generation attention precomputations (text keys and values, fused q/k/v), or null.</param>
    Tensor Forward(Tensor x, IReadOnlyList<Tensor> skips, Tensor temb, Tensor context, AttentionCache? cache);

    /// <summary>Writes this level's forward into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">The level's state-dict prefix, e.g. "up_blocks.1".</param>
    /// <param name="x">[B, Cprev, H, W].</param>
    /// <param name="skips">The level's <see cref="SkipCount"/> skips, oldest first.</param>
    /// <param name="temb">[B, Temb].</param>
    /// <param name="context">[B, T, D].</param>
    /// <returns>[B, Cout, 2H, 2W] (or [B, Cout, H, W] at the top).</returns>
    string ExportOnnx(OnnxGraph g, string key, string x, IReadOnlyList<string> skips, string temb, string context);
}
