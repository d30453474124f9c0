using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Vae;

/// <summary>
/// diffusers' <c>DiagonalGaussianDistribution</c>: the VAE posterior q(z | x) = N(mean, diag(exp(logvar))), built from
/// the moments [B, 2 * latent, h, w] that <c>quant_conv</c> outputs (mean first, then log-variance).
/// </summary>
/// <remarks>
/// The log-variance is clamped to [-30, 20] as in diffusers; <c>std = exp(0.5 logvar)</c>, <c>var = exp(logvar)</c>.
/// The distribution owns its tensors (its own handles; the moments given to the constructor stay the caller's) and
/// frees them on <see cref="Dispose"/> or with the dispose scope it was created in.
/// </remarks>
public sealed class DiagonalGaussianDistribution : IDisposable
{
    /// <summary>Lower clamp of the log-variance (diffusers' value).</summary>
    public const double LogVarMin = -30.0;

    /// <summary>Upper clamp of the log-variance (diffusers' value).</summary>
    public const double LogVarMax = 20.0;

    /// <summary>Creates the distribution from the moments.</summary>
    /// <param name="parameters">[B, 2 * latent, h, w]: mean and raw log-variance, concatenated on dim 1; not disposed.</param>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> is not 4-D with an even channel count.</exception>
    public DiagonalGaussianDistribution(Tensor parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.dim() != 4 || parameters.shape[1] % 2 != 0)
            throw new ArgumentException(
                $"DiagonalGaussianDistribution expects moments [B, 2*latent, h, w]; got shape [{string.Join(", ", parameters.shape)}]", nameof(parameters));
        using var scope = NewDisposeScope();
        // [B, 2L, h, w] -> mean [B, L, h, w], logvar [B, L, h, w]
        var chunks = parameters.chunk(2, 1);
        Parameters = parameters.alias().MoveToOuterDisposeScope();
        Mean = chunks[0].MoveToOuterDisposeScope();
        LogVar = chunks[1].clamp(Scalars.Of(LogVarMin), Scalars.Of(LogVarMax)).MoveToOuterDisposeScope();
        Std = LogVar.mul(Scalars.Of(0.5)).exp().MoveToOuterDisposeScope();
        Var = LogVar.exp().MoveToOuterDisposeScope();
    }

    /// <summary>The moments [B, 2 * latent, h, w] (a handle of this distribution's own).</summary>
    public Tensor Parameters { get; }

    /// <summary>[B, latent, h, w] mean.</summary>
    public Tensor Mean { get; }

    /// <summary>[B, latent, h, w] log-variance, clamped to [<see cref="LogVarMin"/>, <see cref="LogVarMax"/>].</summary>
    public Tensor LogVar { get; }

    /// <summary>[B, latent, h, w] standard deviation exp(0.5 logvar).</summary>
    public Tensor Std { get; }

    /// <summary>[B, latent, h, w] variance exp(logvar).</summary>
    public Tensor Var { get; }

    /// <summary>Draws z = mean + std * eps with eps ~ N(0, I) from <paramref name="generator"/>.</summary>
    /// <param name="generator">The random stream (null: the global one; pass one to reproduce a draw).</param>
    /// <returns>[B, latent, h, w]; the caller owns it.</returns>
    public Tensor Sample(Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var noise = randn(Mean.shape, dtype: Mean.dtype, device: Mean.device, generator: generator);
        return Sample(noise).MoveToOuterDisposeScope();
    }

    /// <summary>Returns z = mean + std * <paramref name="noise"/> for a given standard-normal draw.</summary>
    /// <param name="noise">[B, latent, h, w]; not disposed.</param>
    /// <returns>[B, latent, h, w]; the caller owns it.</returns>
    /// <exception cref="ArgumentException"><paramref name="noise"/> does not have the mean's shape.</exception>
    public Tensor Sample(Tensor noise)
    {
        ArgumentNullException.ThrowIfNull(noise);
        if (!noise.shape.SequenceEqual(Mean.shape))
            throw new ArgumentException(
                $"Noise must have the mean's shape [{string.Join(", ", Mean.shape)}]; got [{string.Join(", ", noise.shape)}]", nameof(noise));
        using var scope = NewDisposeScope();
        return Mean.add(Std.mul(noise), Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>The posterior's mode, its mean.</summary>
    /// <returns>[B, latent, h, w]: a new handle on <see cref="Mean"/> that the caller owns.</returns>
    public Tensor Mode() => Mean.alias();

    /// <summary>KL(q || N(0, I)) per sample, as diffusers computes it: 0.5 * sum(mean^2 + var - 1 - logvar) over C, h, w.</summary>
    /// <returns>[B]; the caller owns it.</returns>
    public Tensor Kl()
    {
        using var scope = NewDisposeScope();
        // mean^2 + var - 1 - logvar: [B, L, h, w] -> [B]
        var terms = Mean.pow(Scalars.Of(2)).add(Var, Scalars.One).sub(Scalars.Of(1.0)).sub(LogVar);
        return terms.sum(new long[] { 1, 2, 3 }).mul(Scalars.Of(0.5)).MoveToOuterDisposeScope();
    }

    /// <summary>Moves every tensor of the distribution out of the current dispose scope (for a method that builds it in one).</summary>
    internal DiagonalGaussianDistribution MoveTensorsOut()
    {
        Parameters.MoveToOuterDisposeScope();
        Mean.MoveToOuterDisposeScope();
        LogVar.MoveToOuterDisposeScope();
        Std.MoveToOuterDisposeScope();
        Var.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Frees the distribution's tensors.</summary>
    public void Dispose()
    {
        Parameters.Dispose();
        Mean.Dispose();
        LogVar.Dispose();
        Std.Dispose();
        Var.Dispose();
    }
}
