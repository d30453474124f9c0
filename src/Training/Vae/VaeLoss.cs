using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Latent.Vae;

namespace Latent.Training.Vae;

/// <summary>
/// The terms of CompVis' <c>LPIPSWithDiscriminator</c> without the LPIPS term (its VGG16 weights cannot be obtained
/// here): the pixel reconstruction loss, the KL term, the hinge losses of the PatchGAN and the adaptive weight that
/// balances the GAN's gradient against the reconstruction's at the decoder's last layer.
/// </summary>
public static class VaeLoss
{
    /// <summary>The largest adaptive weight (CompVis clamps λ to [0, 1e4]).</summary>
    public const double MaxAdaptiveWeight = 1e4;

    /// <summary>Added to the GAN gradient's norm so λ stays finite (CompVis' 1e-4).</summary>
    public const double AdaptiveEpsilon = 1e-4;

    /// <summary>The per-pixel mean of |x − x̂| (L1) or (x − x̂)² (L2).</summary>
    /// <param name="x">[B, C, H, W] images.</param>
    /// <param name="reconstruction">[B, C, H, W] reconstructions.</param>
    /// <param name="kind">L1 or L2.</param>
    /// <returns>A scalar; the caller owns it.</returns>
    public static Tensor Reconstruction(Tensor x, Tensor reconstruction, ReconstructionLoss kind) => kind switch
    {
        ReconstructionLoss.L1 => nn.functional.l1_loss(reconstruction, x),
        ReconstructionLoss.L2 => nn.functional.mse_loss(reconstruction, x),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected L1 or L2"),
    };

    /// <summary>KL(q ‖ N(0, I)) per pixel value: the batch mean of the per-image KL sum, divided by C·H·W of the images.</summary>
    /// <param name="posterior">The posterior of the batch.</param>
    /// <param name="pixelValues">C·H·W of the input images (12288 for 64x64 RGB).</param>
    /// <returns>A scalar; the caller owns it.</returns>
    public static Tensor Kl(DiagonalGaussianDistribution posterior, long pixelValues)
    {
        ArgumentNullException.ThrowIfNull(posterior);
        ArgumentOutOfRangeException.ThrowIfLessThan(pixelValues, 1);
        using var scope = NewDisposeScope();
        using var pixels = pixelValues.ToScalar();
        // [B] -> scalar
        return posterior.Kl().mean().div(pixels).MoveToOuterDisposeScope();
    }

    /// <summary>The generator's hinge term: −mean D(x̂).</summary>
    /// <param name="fakeLogits">[B, 1, h, w] discriminator logits of the reconstructions.</param>
    public static Tensor Generator(Tensor fakeLogits) => fakeLogits.mean().neg();

    /// <summary>The discriminator's hinge loss: ½ (mean relu(1 − D(x)) + mean relu(1 + D(x̂))).</summary>
    /// <param name="realLogits">[B, 1, h, w] logits of real images.</param>
    /// <param name="fakeLogits">[B, 1, h, w] logits of (detached) reconstructions.</param>
    /// <returns>A scalar; the caller owns it.</returns>
    public static Tensor DiscriminatorHinge(Tensor realLogits, Tensor fakeLogits)
    {
        using var scope = NewDisposeScope();
        Scalar one = Scalars.Of(1.0);
        var real = nn.functional.relu(realLogits.neg().add(one, Scalars.One)).mean();   // relu(1 - D(x))
        var fake = nn.functional.relu(fakeLogits.add(one, Scalars.One)).mean();         // relu(1 + D(x̂))
        return real.add(fake, Scalars.One).mul(Scalars.Of(0.5)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CompVis' <c>calculate_adaptive_weight</c>: λ = ‖∇_L rec‖ / (‖∇_L g‖ + 1e-4), clamped to [0, 1e4], where L is the
    /// decoder's last layer; the gradients are taken with the graph kept, so the full backward can follow.
    /// </summary>
    /// <param name="reconstruction">The reconstruction loss (CompVis: the NLL).</param>
    /// <param name="generator">The generator's hinge term.</param>
    /// <param name="lastLayer">The decoder's last weight (<c>decoder.conv_out.weight</c>).</param>
    /// <returns>λ as a number (the detached value, as CompVis uses it).</returns>
    public static double AdaptiveWeight(Tensor reconstruction, Tensor generator, Parameter lastLayer)
    {
        ArgumentNullException.ThrowIfNull(lastLayer);
        using var scope = NewDisposeScope();
        var recGrad = torch.autograd.grad(new[] { reconstruction }, new Tensor[] { lastLayer }, retain_graph: true)[0];
        var genGrad = torch.autograd.grad(new[] { generator }, new Tensor[] { lastLayer }, retain_graph: true)[0];
        double weight = recGrad.norm().item<float>() / (genGrad.norm().item<float>() + AdaptiveEpsilon);
        return Math.Clamp(weight, 0.0, MaxAdaptiveWeight);
    }

    /// <summary>
    /// <see cref="AdaptiveWeight(Tensor, Tensor, Parameter)"/> in a data-parallel step: each rank's two last-layer
    /// gradients are of its part of the loss (its share's reconstruction term, the generator term through its own rows),
    /// so they are summed over the ranks (one all-reduce of both) before the norms; every rank gets the same λ, the one
    /// of one process.
    /// </summary>
    /// <param name="reconstruction">This rank's part of the reconstruction loss.</param>
    /// <param name="generator">The generator's hinge term with this rank's rows live.</param>
    /// <param name="lastLayer">The decoder's last weight.</param>
    /// <param name="parallel">The ranks.</param>
    /// <param name="what">What is summed, for the error of a timed-out call.</param>
    public static double AdaptiveWeight(Tensor reconstruction, Tensor generator, Parameter lastLayer, Latent.Core.Training.IDataParallel parallel, string what)
    {
        ArgumentNullException.ThrowIfNull(lastLayer);
        ArgumentNullException.ThrowIfNull(parallel);
        if (parallel.Size == 1) return AdaptiveWeight(reconstruction, generator, lastLayer);
        using var scope = NewDisposeScope();
        var recGrad = torch.autograd.grad(new[] { reconstruction }, new Tensor[] { lastLayer }, retain_graph: true)[0];
        var genGrad = torch.autograd.grad(new[] { generator }, new Tensor[] { lastLayer }, retain_graph: true)[0];
        var both = cat([recGrad.reshape(-1), genGrad.reshape(-1)], 0).to(ScalarType.Float32).contiguous();   // [2 · n]
        parallel.AllReduceSum(both, what);
        long n = recGrad.numel();
        double weight = both.narrow(0, 0, n).norm().item<float>() / (both.narrow(0, n, n).norm().item<float>() + AdaptiveEpsilon);
        return Math.Clamp(weight, 0.0, MaxAdaptiveWeight);
    }
}
