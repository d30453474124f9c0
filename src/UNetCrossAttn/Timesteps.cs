using Latent.Core.Engine;
using Latent.Core.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>Timesteps</c>: the sinusoidal embedding of (possibly fractional) timesteps, without weights.
/// </summary>
/// <remarks>
/// With half = dim / 2 and frequencies f_i = exp(-ln(maxPeriod) i / (half - downscaleFreqShift)), i = 0..half-1:
/// emb = [sin(t f), cos(t f)], or [cos(t f), sin(t f)] when flipSinToCos (SD). Computed in float32 as
/// diffusers' <c>get_timestep_embedding</c> does, whatever the timesteps' dtype.
/// </remarks>
public sealed class Timesteps : nn.Module<Tensor, Tensor>
{
    private readonly long dim;
    private readonly bool flipSinToCos;
    private readonly double downscaleFreqShift;
    private readonly double maxPeriod;

    /// <summary>Creates the embedding.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="dim">Embedding width (block_out_channels[0] in the U-Net).</param>
    /// <param name="flipSinToCos">Put the cosines first (true in SD).</param>
    /// <param name="downscaleFreqShift">diffusers' freq_shift (0 in SD, 1 in some older models).</param>
    /// <param name="maxPeriod">The longest period, 10000 as in the Transformer paper.</param>
    /// <exception cref="ArgumentException"><paramref name="dim"/> is below 2.</exception>
    public Timesteps(string name, long dim, bool flipSinToCos, double downscaleFreqShift, double maxPeriod = 10000) : base(name)
    {
        if (dim < 2) throw new ArgumentException($"Timesteps needs dim >= 2; got {dim}", nameof(dim));
        this.dim = dim;
        this.flipSinToCos = flipSinToCos;
        this.downscaleFreqShift = downscaleFreqShift;
        this.maxPeriod = maxPeriod;
    }

    /// <summary>Embeds the timesteps.</summary>
    /// <param name="timesteps">[B] of any numeric dtype.</param>
    /// <returns>[B, dim] float32.</returns>
    public override Tensor forward(Tensor timesteps)
    {
        // timesteps: [B] -> [B, dim]
        if (timesteps.dim() != 1)
            throw new ArgumentException($"Timesteps expects [B]; got shape [{string.Join(", ", timesteps.shape)}]", nameof(timesteps));
        using var scope = NewDisposeScope();
        var freqs = Frequencies(timesteps.device);
        var args = timesteps.unsqueeze(1).to(ScalarType.Float32) * freqs.unsqueeze(0); // [B, 1] * [1, half] -> [B, half]
        var emb = flipSinToCos ? cat([cos(args), sin(args)], 1) : cat([sin(args), cos(args)], 1); // [B, 2 half]
        if (dim % 2 == 1) emb = nn.functional.pad(emb, [0, 1, 0, 0]);
        return emb.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this embedding into an ONNX graph; the frequencies are computed here with the same float32 ops as forward.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its module path ("time_proj"; it has no weights, the key names its frequency table).</param>
    /// <param name="timesteps">[B] float32.</param>
    /// <returns>[B, dim].</returns>
    /// <exception cref="NotSupportedException">dim is odd.</exception>
    public string ExportOnnx(OnnxGraph g, string key, string timesteps)
    {
        if (dim % 2 == 1) throw new NotSupportedException($"{key}: an odd embedding width ({dim}) is not exported");
        using var scope = NewDisposeScope();
        var freqs = Frequencies(CPU);
        // [B] -> [B, 1] * [1, half] -> [B, half] -> [B, 2 half]
        string args = g.Node("Mul", [g.Node("Reshape", [timesteps, g.Ints("shape_b1", -1, 1)]), g.Weight($"{key}.freqs", freqs.unsqueeze(0))]);
        string cosArgs = g.Node("Cos", [args]), sinArgs = g.Node("Sin", [args]);
        return g.Node("Concat", flipSinToCos ? [cosArgs, sinArgs] : [sinArgs, cosArgs], OnnxAttribute.Int("axis", 1));
    }

    // exp(-ln(max_period) * i / (half - downscale_freq_shift)) for i < half: [half] float32, as diffusers computes it.
    private Tensor Frequencies(Device device)
    {
        long half = dim / 2;
        var i = arange(Scalars.Of(0), Scalars.Of(half), Scalars.One, dtype: ScalarType.Float32, device: device);   // [half]
        var exponent = i * Scalars.Of(-Math.Log(maxPeriod));
        return exp(exponent / Scalars.Of(half - downscaleFreqShift));
    }
}
