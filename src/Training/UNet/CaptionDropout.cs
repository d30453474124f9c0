using TorchSharp;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.UNet;

/// <summary>
/// Caption dropout for classifier-free guidance: each caption of a batch is replaced by the empty prompt with
/// probability p, so the U-Net learns the unconditional prediction ε(z_t, t, "") next to the conditional one
/// (Ho &amp; Salimans 2022; SD uses p = 0.1). The one place where training knows that guidance exists.
/// </summary>
public static class CaptionDropout
{
    /// <summary>Which captions of a batch to drop: entry b is true with probability <paramref name="probability"/>,
    /// independently, decided by u_b &lt; p with u ~ U[0, 1) drawn from <paramref name="generator"/> (B float32 draws,
    /// also when p is 0 or 1, so the generator's stream does not depend on p).</summary>
    /// <param name="batch">B, the number of captions; at least 1.</param>
    /// <param name="probability">p in [0, 1].</param>
    /// <param name="generator">The seeded stream (saved in checkpoints, so a resumed run drops the same captions).</param>
    /// <returns>B flags; true: use the empty prompt.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is below 1 or <paramref name="probability"/> is outside [0, 1].</exception>
    public static bool[] Sample(int batch, double probability, Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "expected at least 1 caption");
        if (!(probability is >= 0 and <= 1))
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "expected a probability in [0, 1]");
        using var u = rand(new long[] { batch }, generator: generator);   // [B] ~ U[0, 1)
        return u.data<float>().ToArray().Select(x => x < probability).ToArray();
    }
}
