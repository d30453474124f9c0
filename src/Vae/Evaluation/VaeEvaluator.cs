using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Vae.Evaluation;

/// <summary>Reconstruction quality of a VAE on a set of images: means of the per-image metrics.</summary>
/// <param name="Images">How many images were evaluated.</param>
/// <param name="Psnr">Mean PSNR in dB over images (each image's PSNR on [0, 1], then averaged).</param>
/// <param name="Ssim">Mean SSIM over images (Gaussian 11x11, σ 1.5).</param>
public sealed record VaeEvaluation(int Images, double Psnr, double Ssim);

/// <summary>Measures how well a VAE reconstructs images (through the posterior's mode), and draws reconstruction grids.</summary>
public static class VaeEvaluator
{
    /// <summary>Reads the first <paramref name="limit"/> images of a data set into one tensor.</summary>
    /// <param name="dataset">The images (one split).</param>
    /// <param name="size">The size to resize to (the VAE's sample size).</param>
    /// <param name="limit">At most this many, in file order.</param>
    /// <returns>[N, 3, H, W] in [-1, 1]; the caller owns it.</returns>
    public static Tensor LoadImages(ImageFolderDataset dataset, ImageSize size, int limit)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        using var scope = NewDisposeScope();
        int n = Math.Min(limit, dataset.Count);
        // [3, H, W] x N -> [N, 3, H, W]
        return stack(Enumerable.Range(0, n).Select(i => dataset.LoadImage(i, size))).MoveToOuterDisposeScope();
    }

    /// <summary>Reconstructs <paramref name="images"/> in batches and averages PSNR and SSIM over them.</summary>
    /// <param name="vae">The model; switched to eval mode and back to the mode it had.</param>
    /// <param name="images">[N, 3, H, W] in [-1, 1].</param>
    /// <param name="batchSize">Images per forward.</param>
    /// <exception cref="ArgumentException"><paramref name="images"/> is empty or not [N, 3, H, W].</exception>
    public static VaeEvaluation Evaluate(AutoencoderKL vae, Tensor images, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (images.dim() != 4 || images.shape[0] < 1)
            throw new ArgumentException($"expected images [N, 3, H, W] with N >= 1; got [{string.Join(", ", images.shape)}]", nameof(images));
        var psnr = new List<double>();
        var ssim = new List<double>();
        bool wasTraining = vae.training;
        vae.eval();
        try
        {
            long n = images.shape[0];
            for (long start = 0; start < n; start += batchSize)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var x = images.narrow(0, start, Math.Min(batchSize, n - start));
                var reconstruction = vae.forward(x);
                var x01 = ImageMetrics.ToUnitRange(x);
                var r01 = ImageMetrics.ToUnitRange(reconstruction);
                psnr.AddRange(ImageMetrics.Psnr(x01, r01));
                if (x.shape[2] >= ImageMetrics.SsimWindow && x.shape[3] >= ImageMetrics.SsimWindow)
                    ssim.AddRange(ImageMetrics.Ssim(x01, r01));
            }
        }
        finally
        {
            vae.train(wasTraining);
        }
        return new VaeEvaluation(psnr.Count, psnr.Average(), ssim.Count > 0 ? ssim.Average() : double.NaN);
    }

    /// <summary>
    /// The latent scaling factor as LDM measured SD's 0.18215: 1 / std of latents sampled from the posteriors of
    /// <paramref name="images"/>, the std taken over every value of every latent (unbiased, in float64).
    /// </summary>
    /// <param name="vae">The model.</param>
    /// <param name="images">[N, 3, H, W] in [-1, 1].</param>
    /// <param name="generator">The stream of the posterior samples.</param>
    /// <param name="batchSize">Images per forward.</param>
    /// <returns>1 / std(z).</returns>
    public static double MeasureScalingFactor(AutoencoderKL vae, Tensor images, Generator generator, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        double sum = 0, sumSquares = 0, count = 0;
        long n = images.shape[0];
        for (long start = 0; start < n; start += batchSize)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var posterior = vae.Encode(images.narrow(0, start, Math.Min(batchSize, n - start)));
            var z = posterior.Sample(generator).to(ScalarType.Float64);
            sum += z.sum().item<double>();
            sumSquares += z.pow(Scalars.Of(2)).sum().item<double>();
            count += z.numel();
        }
        double variance = (sumSquares - sum * sum / count) / Math.Max(count - 1, 1);
        return 1.0 / Math.Sqrt(variance);
    }

    /// <summary>Writes a PNG with the first images on one row and their reconstructions on the row below.</summary>
    /// <param name="vae">The model.</param>
    /// <param name="images">[N, 3, H, W] in [-1, 1].</param>
    /// <param name="path">The PNG to write (atomically).</param>
    /// <param name="count">Images per row (at most N).</param>
    public static void SaveGrid(AutoencoderKL vae, Tensor images, string path, int count = 8)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        bool wasTraining = vae.training;
        vae.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            int k = (int)Math.Min(count, images.shape[0]);
            var x = images.narrow(0, 0, k);
            // [k, 3, H, W] originals ; [k, 3, H, W] reconstructions -> [2k, 3, H, W] -> grid of 2 rows
            var both = cat(new[] { x, vae.forward(x).clamp(Scalars.Of(-1.0), Scalars.Of(1.0)) }, 0);
            ImageIO.SavePng(ImageGrid.Tile(both, columns: k), path);
        }
        finally
        {
            vae.train(wasTraining);
        }
    }
}
