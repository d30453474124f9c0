using Latent.Core.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>diffusers' <c>FeedForward</c> with the GEGLU activation: <c>net.2(net.1(net.0(x)))</c>, width dim -> 4 dim -> dim.</summary>
/// <remarks>Keys: <c>net.0.proj</c> (<see cref="GEGLU"/>), <c>net.2</c> (Linear); <c>net.1</c> is the dropout (p = 0), without weights.</remarks>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.ModuleList<nn.Module<Tensor, Tensor>> net;

    /// <summary>Creates the block.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="dim">Input and output width.</param>
    /// <param name="mult">Inner width multiplier (4, as in diffusers and the Transformer paper).</param>
    public FeedForward(string name, long dim, int mult = 4) : base(name)
    {
        long inner = dim * mult;
        net = nn.ModuleList<nn.Module<Tensor, Tensor>>(new GEGLU("0", dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim));
        RegisterComponents();
    }

    /// <summary>Applies the block.</summary>
    /// <param name="x">[B, N, dim].</param>
    /// <returns>[B, N, dim].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, N, D] -> [B, N, 4D] -> [B, N, D]
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var layer in net) h = layer.forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this block into an ONNX graph (GEGLU, then the output Linear; dropout is the identity).</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "....ff".</param>
    /// <param name="x">[B, N, D].</param>
    /// <returns>[B, N, D].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        // x: [B, N, D] -> [B, N, 4D] -> [B, N, D]
        string h = ((GEGLU)net[0]).ExportOnnx(g, $"{key}.net.0", x);
        return g.Linear($"{key}.net.2", (TorchSharp.Modules.Linear)net[2], h);
    }
}
