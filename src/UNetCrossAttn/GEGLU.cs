using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>diffusers' <c>GEGLU</c> (Shazeer 2020): <c>h * gelu(gate)</c> where <c>[h, gate] = proj(x)</c>, with the exact (erf) GELU.</summary>
/// <remarks>Key: <c>proj</c> (a Linear to twice the output width; the first half is h, the second the gate).</remarks>
public sealed class GEGLU : nn.Module<Tensor, Tensor>
{
    private readonly Linear proj;

    /// <summary>Creates the gated unit.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="dimIn">Input width.</param>
    /// <param name="dimOut">Output width (the projection has 2 * dimOut outputs).</param>
    public GEGLU(string name, long dimIn, long dimOut) : base(name)
    {
        proj = nn.Linear(dimIn, dimOut * 2);
        RegisterComponents();
    }

    /// <summary>Applies the unit.</summary>
    /// <param name="x">[..., dimIn].</param>
    /// <returns>[..., dimOut].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, N, Din] -> [B, N, 2 Dout] -> 2 x [B, N, Dout] -> [B, N, Dout]
        using var scope = NewDisposeScope();
        var parts = proj.forward(x).chunk(2, -1);
        return (parts[0] * nn.functional.gelu(parts[1])).MoveToOuterDisposeScope();
    }

    /// <summary>Writes this layer into an ONNX graph, its projection split into the two halves' matrices (no Split node).</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "....ff.net.0".</param>
    /// <param name="x">[B, N, Din].</param>
    /// <returns>[B, N, Dout].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        // W: [2 Dout, Din] -> value half [Dout, Din] and gate half [Dout, Din]; out = (x Wa + ba) * gelu(x Wg + bg)
        using var scope = NewDisposeScope();
        var w = proj.weight!.chunk(2, 0);
        var b = proj.bias!.chunk(2, 0);
        string value = g.Linear($"{key}.proj.value", w[0], b[0], x);
        string gate = g.Linear($"{key}.proj.gate", w[1], b[1], x);
        return g.Node("Mul", [value, g.Gelu(gate)]);
    }
}
