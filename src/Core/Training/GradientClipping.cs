using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>The total gradient norm measured by <see cref="GradientClipping.ClipByTotalNorm"/> or <see cref="GradientClipping.TotalNorm"/>.</summary>
/// <param name="TotalNorm">‖g‖₂ over all gradients together, before clipping (NaN or ∞ when a gradient is).</param>
/// <param name="Clipped">Whether the gradients were scaled down.</param>
public readonly record struct GradientNorm(double TotalNorm, bool Clipped)
{
    /// <summary>Whether the norm is finite. When it is not, the gradients were left untouched: skip the step.</summary>
    public bool IsFinite => double.IsFinite(TotalNorm);
}

/// <summary>Gradient-norm clipping over all parameters together, as <c>torch.nn.utils.clip_grad_norm_</c>.</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales every gradient by min(1, maxNorm / (‖g‖ + 1e-6)), where ‖g‖ is the L2 norm of all gradients
    /// concatenated, and returns ‖g‖ before clipping.
    /// </summary>
    /// <remarks>
    /// The math is PyTorch's <c>clip_grad_norm_</c> (norm of the per-tensor norms, the coefficient as a float32 tensor
    /// clamped at 1). It differs on a non-finite norm: PyTorch multiplies the gradients by NaN (or throws with
    /// <c>error_if_nonfinite</c>); this leaves them untouched and reports it in <see cref="GradientNorm.IsFinite"/>, so
    /// the trainer can skip the step and log it. We write it rather than call TorchSharp's
    /// <c>clip_grad_norm_</c> for that reason. Parameters without a gradient are skipped.
    /// </remarks>
    /// <param name="parameters">The parameters whose <c>.grad</c> to clip.</param>
    /// <param name="maxNorm">The largest total norm allowed; must be positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNorm"/> is not positive and finite.</exception>
    public static GradientNorm ClipByTotalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm > 0) || double.IsInfinity(maxNorm))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "must be positive and finite");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var (grads, total) = Measure(parameters);
        if (total is null) return new GradientNorm(0.0, false);
        double totalNorm = total.item<float>();
        if (!double.IsFinite(totalNorm)) return new GradientNorm(totalNorm, false);

        // min(1, maxNorm / (‖g‖ + 1e-6)): a float32 scalar tensor, as PyTorch
        using var maxNormScalar = maxNorm.ToScalar();
        var coef = (maxNormScalar / total.add(Scalars.Of(1e-6), Scalars.One)).clamp_max(Scalars.Of(1.0));
        foreach (var g in grads) g.mul_(coef.to(g.dtype));
        return new GradientNorm(totalNorm, coef.item<float>() < 1f);
    }

    /// <summary>
    /// ‖g‖₂ over all gradients together, as <see cref="ClipByTotalNorm"/> measures it, leaving the gradients untouched:
    /// what a trainer with clipping off checks before it steps.
    /// </summary>
    /// <param name="parameters">The parameters whose <c>.grad</c> to measure; those without a gradient are skipped.</param>
    /// <returns>The norm (0 when no parameter has a gradient), never clipped.</returns>
    public static GradientNorm TotalNorm(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var (_, total) = Measure(parameters);
        return new GradientNorm(total is null ? 0.0 : total.item<float>(), false);
    }

    // The gradients and ‖g‖ = ‖(‖g_1‖, ..., ‖g_n‖)‖, computed in float32 like PyTorch (null without gradients); the
    // tensors live in the caller's dispose scope. Tensor.norm(2f) is linalg_vector_norm(g, 2) over all dims in libtorch
    // (norm.Scalar calls it); TorchSharp's linalg.vector_norm(g, 2) would pass ord as a Scalar nothing holds, and has
    // no overload that takes one (LAT0001, Engine/Scalars.cs).
    static (List<Tensor> Grads, Tensor? Total) Measure(IEnumerable<Parameter> parameters)
    {
        var grads = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return (grads, null);
        var norms = grads.Select(g => g.norm(2f).to(ScalarType.Float32)).ToArray();
        return (grads, torch.stack(norms).norm(2f));
    }
}
