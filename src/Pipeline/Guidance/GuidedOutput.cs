using Latent.Core.Engine;
using Latent.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.Guidance;

/// <summary>
/// What the denoising loop does with a U-Net output of C or 2C channels (issue 25's learned variance): classifier-free
/// guidance on the mean half only, and the channels each scheduler reads.
/// </summary>
public static class GuidedOutput
{
    /// <summary>
    /// Classifier-free guidance: [2B, C', h, w] = [uncond; cond] -> eps = uncond + s (cond - uncond) on the first C
    /// channels; a variance half (C' = 2C) is the conditional branch's, unguided (as diffusers' IF pipelines do).
    /// </summary>
    /// <param name="output">[2B, C, h, w] or [2B, 2C, h, w].</param>
    /// <param name="scale">s, held by the caller for the loop.</param>
    /// <param name="latentChannels">C.</param>
    /// <returns>[B, C', h, w]; owned by the caller's dispose scope.</returns>
    public static Tensor ClassifierFree(Tensor output, Scalar scale, long latentChannels)
    {
        ArgumentNullException.ThrowIfNull(output);
        Tensor[] parts = output.chunk(2);                               // [2B, C', h, w] -> uncond, cond [B, C', h, w]
        if (output.shape[1] != 2 * latentChannels)
            return parts[0].add(scale * (parts[1] - parts[0]), Scalars.One);
        var (uncond, _) = LearnedRange.Split(parts[0]);
        var (cond, variance) = LearnedRange.Split(parts[1]);
        return cat([uncond.add(scale * (cond - uncond), Scalars.One), variance], 1);
    }

    /// <summary>
    /// The output a scheduler reads: the whole [B, 2C, h, w] for one that uses a learned variance (DDPM with variance_type
    /// learned or learned_range; DDIM with eta &gt; 0), else the mean half [B, C, h, w].
    /// </summary>
    /// <param name="output">[B, C, h, w] or [B, 2C, h, w].</param>
    /// <param name="scheduler">The sampling scheduler.</param>
    /// <param name="latentChannels">C.</param>
    public static Tensor ForScheduler(Tensor output, INoiseScheduler scheduler, long latentChannels)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(scheduler);
        if (output.shape[1] != 2 * latentChannels) return output;
        bool readsVariance = scheduler switch
        {
            DdpmScheduler => scheduler.Config.VarianceType is VarianceType.Learned or VarianceType.LearnedRange,
            DdimScheduler ddim => ddim.Eta > 0,
            _ => false,
        };
        return readsVariance ? output : LearnedRange.Split(output).Prediction;
    }
}
