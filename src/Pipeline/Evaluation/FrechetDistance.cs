using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.Evaluation;

/// <summary>
/// The Fréchet distance between two sets of feature vectors, each summarised as a Gaussian (mean, covariance):
/// d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½), the formula of FID (Heusel et al. 2017).
/// </summary>
/// <remarks>
/// Written here because no served library computes it. Computed in float64 with symmetric eigendecompositions only
/// (no general matrix square root): tr((Σ₁Σ₂)^½) equals the sum of the square roots of the eigenvalues of the symmetric
/// positive semi-definite Σ₁^½ Σ₂ Σ₁^½, and tiny negative eigenvalues from rounding are clamped to 0. Covariances use
/// N − 1 as numpy's <c>np.cov</c>, as pytorch-fid does.
/// </remarks>
public static class FrechetDistance
{
    /// <summary>d² between the Gaussians fitted to <paramref name="a"/> and <paramref name="b"/>.</summary>
    /// <param name="a">[N, D] features, N ≥ 2.</param>
    /// <param name="b">[M, D] features, M ≥ 2, the same D.</param>
    /// <returns>The squared distance, ≥ 0 up to rounding (as FID reports it).</returns>
    /// <exception cref="ArgumentException">A set is not 2-D, has fewer than 2 rows, or the widths differ.</exception>
    public static double Compute(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        Check(a, nameof(a));
        Check(b, nameof(b));
        if (a.shape[1] != b.shape[1])
            throw new ArgumentException($"feature widths differ: a is [{a.shape[0]}, {a.shape[1]}], b is [{b.shape[0]}, {b.shape[1]}]; expected the same D.", nameof(b));
        using var scope = NewDisposeScope();
        var (muA, covA) = Moments(a.to(ScalarType.Float64));                      // [D], [D, D]
        var (muB, covB) = Moments(b.to(ScalarType.Float64));
        var meanTerm = (muA - muB).pow(Scalars.Of(2)).sum().item<double>();
        var rootA = SymmetricSqrt(covA);                                           // Σa^½, [D, D]
        var middle = rootA.matmul(covB).matmul(rootA);                             // Σa^½ Σb Σa^½, symmetric PSD
        middle = middle.add(middle.t(), Scalars.One) / Scalars.Of(2);              // remove rounding asymmetry
        var traceRoot = linalg.eigvalsh(middle).clamp_min(Scalars.Of(0)).sqrt().sum().item<double>();
        return meanTerm + covA.trace().item<double>() + covB.trace().item<double>() - 2 * traceRoot;
    }

    static void Check(Tensor t, string name)
    {
        if (t.dim() != 2 || t.shape[0] < 2)
            throw new ArgumentException($"{name} must be [N, D] with N ≥ 2 feature rows; got [{string.Join(", ", t.shape)}].", name);
    }

    // features [N, D] -> mean [D], covariance [D, D] with the N - 1 denominator
    static (Tensor Mean, Tensor Covariance) Moments(Tensor features)
    {
        var mean = features.mean([0L]);
        var centered = features - mean;
        using var denominator = (features.shape[0] - 1).ToScalar();
        return (mean, centered.t().matmul(centered) / denominator);
    }

    // The PSD square root of a symmetric matrix through eigh (eigenvalues below 0 from rounding become 0).
    static Tensor SymmetricSqrt(Tensor m)
    {
        var (values, vectors) = linalg.eigh(m);
        return vectors.matmul(diag(values.clamp_min(Scalars.Of(0)).sqrt())).matmul(vectors.t());
    }
}
