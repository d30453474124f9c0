using Latent.Core.Nn;
using Latent.Core.Onnx;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>A down level of the U-Net (<see cref="DownBlock2D"/> or <see cref="CrossAttnDownBlock2D"/>).</summary>
public interface IUNetDownBlock
{
    /// <summary>Runs the level and returns the states the up path will concatenate.</summary>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <param name="temb">[B, Temb] time embedding.</param>
    /// <param name="context">[B, T, D] text states (ignored by levels without attention).</param>
    /// <returns>
    /// One skip per ResNet ([B, Cout, H, W]) and, when the level downsamples, the downsampled state
    /// ([B, Cout, H/2, W/2]); the last skip is also the level's output. The caller owns them.
    /// </returns>
    /// <param name="cache">Per-generation attention precomputations (text keys and values, fused q/k/v), or null.</param>
    Tensor[] Forward(Tensor x, Tensor temb, Tensor context, AttentionCache? cache);

    /// <summary>Writes this level's forward into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">The level's state-dict prefix, e.g. "down_blocks.1".</param>
    /// <param name="x">[B, Cin, H, W].</param>
    /// <param name="temb">[B, Temb].</param>
    /// <param name="context">[B, T, D] (unused by levels without attention).</param>
    /// <returns>The skips, as <c>Forward</c> returns them; the last is the level's output.</returns>
    string[] ExportOnnx(OnnxGraph g, string key, string x, string temb, string context);
}
