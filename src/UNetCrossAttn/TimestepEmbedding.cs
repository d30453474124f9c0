using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>diffusers' <c>TimestepEmbedding</c>: <c>linear_2(silu(linear_1(x)))</c>, the MLP over the sinusoidal embedding.</summary>
/// <remarks>Keys: <c>linear_1</c>, <c>linear_2</c> (diffusers' <c>act</c> has no weights).</remarks>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear_1;
    private readonly Linear linear_2;

    /// <summary>Creates the MLP.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="inChannels">Width of the sinusoidal embedding.</param>
    /// <param name="timeEmbedDim">Width of the time embedding (4 * block_out_channels[0] in SD).</param>
    public TimestepEmbedding(string name, long inChannels, long timeEmbedDim) : base(name)
    {
        linear_1 = nn.Linear(inChannels, timeEmbedDim);
        linear_2 = nn.Linear(timeEmbedDim, timeEmbedDim);
        RegisterComponents();
    }

    /// <summary>Applies the MLP.</summary>
    /// <param name="x">[B, inChannels].</param>
    /// <returns>[B, timeEmbedDim].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, Cin] -> [B, Temb]
        using var scope = NewDisposeScope();
        return linear_2.forward(nn.functional.silu(linear_1.forward(x))).MoveToOuterDisposeScope();
    }

    /// <summary>Writes this MLP into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix ("time_embedding").</param>
    /// <param name="x">[B, Cin].</param>
    /// <returns>[B, Temb].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        // x: [B, Cin] -> [B, Temb]
        return g.Linear($"{key}.linear_2", linear_2, g.Silu(g.Linear($"{key}.linear_1", linear_1, x)));
    }
}
