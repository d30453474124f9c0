using Latent.Core.Engine;
using Latent.Schedulers;
using Latent.UNetCrossAttn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Training.UNet;

/// <summary>
/// The hooks <see cref="UNetTrainer"/> calls for a learned variance (issue 25, improved DDPM): the split of the U-Net's
/// 2C output into the mean prediction and the weighted L_vlb term, and the widening of a C-channel U-Net's
/// <c>conv_out</c> when fine-tuning it into a 2C-channel one.
/// </summary>
public static class LearnedVarianceTraining
{
    /// <summary>The U-Net's output channels for a run: 2C with a learned variance, else C.</summary>
    /// <param name="config">The training config.</param>
    /// <param name="latentChannels">C, the VAE's latent channels.</param>
    public static int OutChannels(UNetTrainingConfig config, long latentChannels)
    {
        ArgumentNullException.ThrowIfNull(config);
        return (int)(config.LearnsVariance ? 2 * latentChannels : latentChannels);
    }

    /// <summary>
    /// Splits the U-Net output: without a learned variance it is the prediction itself and there is no L_vlb; with one,
    /// [B, 2C, h, w] gives the mean prediction [B, C, h, w] (for L_simple) and lambda T L_t per sample [B] (in bits, the
    /// mean stopped from its gradient; see <see cref="VariationalBound"/>).
    /// </summary>
    /// <param name="config">The training config (variance type and lambda).</param>
    /// <param name="schedule">The training noise schedule.</param>
    /// <param name="x0">Clean latents [B, C, h, w].</param>
    /// <param name="xt">Noised latents [B, C, h, w].</param>
    /// <param name="t">The B timesteps.</param>
    /// <param name="output">The U-Net's output.</param>
    /// <returns>The mean prediction (a view of <paramref name="output"/>) and the weighted term, or null.</returns>
    public static (Tensor Prediction, Tensor? WeightedVlb) Split(UNetTrainingConfig config, NoiseSchedule schedule, Tensor x0, Tensor xt, long[] t, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(schedule);
        if (!config.LearnsVariance) return (output, null);
        Tensor terms = VariationalBound.Terms(schedule, x0, xt, t, output, config.PredictionType);   // [B]
        // lambda L_vlb with L_vlb = T E_t[L_t]: one sampled t contributes lambda T L_t.
        double weight = (config.VlbWeight ?? VariationalBound.DefaultLambda) * schedule.NumTrainTimesteps;
        using var w = weight.ToScalar();
        Tensor weighted = terms.mul(w);
        terms.Dispose();
        return (LearnedRange.Split(output).Prediction, weighted);
    }

    /// <summary>Whether a saved U-Net of <paramref name="saved"/> starts a run of <paramref name="run"/> by widening
    /// conv_out: the run learns its variance and has twice the saved output channels.</summary>
    public static bool Widens(UNetTrainingConfig config, UNetConfig saved, UNetConfig run)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(run);
        return config.LearnsVariance && saved.OutChannels * 2 == run.OutChannels;
    }

    /// <summary>
    /// Widens a C-output U-Net's weights to 2C outputs: <c>conv_out.weight</c> [C, c, k, k] and <c>conv_out.bias</c> [C]
    /// get C more output channels of zeros. The mean half is the saved U-Net unchanged; the variance half starts at v = 0,
    /// the geometric mean of beta~_t and beta_t (improved-diffusion zero-initialises its output layer the same way), so a
    /// short fine-tune starts from the saved model's predictions and learns v from L_vlb alone.
    /// </summary>
    /// <param name="weights">The saved state dict; its two conv_out entries are replaced (the old tensors disposed).</param>
    /// <exception cref="ArgumentException">The dict has no conv_out.weight or conv_out.bias.</exception>
    public static void WidenConvOut(Dictionary<string, Tensor> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        foreach (string key in new[] { "conv_out.weight", "conv_out.bias" })
        {
            if (!weights.TryGetValue(key, out Tensor? old))
                throw new ArgumentException($"the U-Net weights have no '{key}'; expected a diffusers UNet2DConditionModel state dict", nameof(weights));
            using var zeros = zeros_like(old);               // held across cat: no dispose scope here
            weights[key] = cat([old, zeros], 0);             // [C, ...] -> [2C, ...]
            old.Dispose();
        }
    }
}
