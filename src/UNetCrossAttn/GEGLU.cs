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
}
