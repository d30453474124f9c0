namespace Latent.Schedulers;

/// <summary>
/// The noise levels of Karras et al. (2022, eq. 5, rho = 7) and the way back from a noise level to a fractional training
/// timestep, as diffusers 0.21's <c>_convert_to_karras</c> and <c>_sigma_to_t</c> (shared by DPM-Solver and Euler).
/// </summary>
public static class KarrasSigmas
{
    /// <summary>
    /// n levels (a + i/(n-1) (b - a))^7 with a = inSigmas[0]^(1/7), b = inSigmas[^1]^(1/7). diffusers calls the last
    /// entry "sigma_min" and the first "sigma_max" whatever their order, so ascending input (DPM-Solver's training sigmas)
    /// gives ascending levels and descending input (Euler's inference sigmas) descending ones.
    /// </summary>
    /// <param name="inSigmas">At least one noise level; the first and last are the ends.</param>
    /// <param name="n">The number of levels.</param>
    /// <returns>n levels in double.</returns>
    public static double[] From(IReadOnlyList<double> inSigmas, int n)
    {
        ArgumentNullException.ThrowIfNull(inSigmas);
        const double rho = 7.0;
        double sigmaMin = inSigmas[^1], sigmaMax = inSigmas[0];
        double minInvRho = Math.Pow(sigmaMin, 1 / rho), maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        double[] ramp = NumpySpacing.Linspace(0, 1, n);
        return ramp.Select(r => Math.Pow(maxInvRho + r * (minInvRho - maxInvRho), rho)).ToArray();
    }

    /// <summary>
    /// The fractional training timestep whose sigma is <paramref name="sigma"/>, interpolating linearly in log sigma between
    /// the two neighbouring training sigmas (diffusers' <c>_sigma_to_t</c>, with its float32/float64 mix).
    /// </summary>
    /// <param name="sigma">The noise level.</param>
    /// <param name="logSigmas">log sigma_t per training step (float32, ascending).</param>
    public static double SigmaToT(double sigma, IReadOnlyList<float> logSigmas)
    {
        ArgumentNullException.ThrowIfNull(logSigmas);
        double logSigma = Math.Log(sigma);
        // low_idx: the last index whose log sigma <= log_sigma (argmax of the cumulative count), at most len - 2
        int count = 0, lowIdx = 0, best = -1;
        for (int i = 0; i < logSigmas.Count; i++)
        {
            if (logSigma - logSigmas[i] >= 0) count++;
            if (count > best) { best = count; lowIdx = i; }
        }
        lowIdx = Math.Min(lowIdx, logSigmas.Count - 2);
        int highIdx = lowIdx + 1;
        float low = logSigmas[lowIdx], high = logSigmas[highIdx];
        // numpy 1.24 keeps (low - log_sigma) in float32 (array minus scalar); this is double, which moves t by ~1e-7.
        double w = (low - logSigma) / (double)(low - high);
        w = Math.Clamp(w, 0, 1);
        return (1 - w) * lowIdx + w * highIdx;
    }
}
