using Latent.Core.Engine;
using Latent.Schedulers;
using static TorchSharp.torch;

namespace Latent.Training.UNet;

/// <summary>
/// The variational bound term L_t of improved DDPM (Nichol &amp; Dhariwal 2021, eq. 4-6 and section 3.1) for a network
/// that predicts its variance (<see cref="LearnedRange"/>), and the L_hybrid = L_simple + lambda L_vlb it trains with.
/// Hand-written after improved-diffusion's <c>losses.py</c> and <c>gaussian_diffusion.py</c>: no library we use has these
/// (diffusers samples with a learned variance but never trains one).
/// </summary>
/// <remarks>
/// <para>L_t = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t)) for t &gt; 0, and the discretised Gaussian negative
/// log-likelihood -log p_theta(x_0 | x_1) for t = 0, averaged over C, H, W and in bits (divided by ln 2), as
/// improved-diffusion reports them. The posterior: mu~_t = beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t) x_0 +
/// (1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t) x_t and beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t,
/// with beta~_0 (which is 0) replaced by beta~_1 in the log ("posterior_log_variance_clipped").</para>
/// <para>The stop-gradient of section 3.1: p_theta's mean is computed from the detached mean prediction, so L_vlb trains
/// only the variance half and L_simple alone trains the mean.</para>
/// <para>lambda L_vlb with L_vlb = sum_t L_t = T E_t[L_t]: one sampled t contributes lambda T L_t (= L_t for lambda = 0.001
/// and T = 1000, improved-diffusion's "RESCALED" weighting).</para>
/// <para>On latents the t = 0 term keeps the pixel recipe's bins of width 2/255 and its open edge bins beyond +-0.999; latents
/// are not discrete, so this term is a proxy there (1 in 1000 timesteps).</para>
/// </remarks>
public static class VariationalBound
{
    /// <summary>lambda of L_hybrid: improved DDPM's 0.001.</summary>
    public const double DefaultLambda = 0.001;

    /// <summary>KL(N(mean1, e^logVar1) || N(mean2, e^logVar2)) per element, in nats:
    /// 0.5 (-1 + logVar2 - logVar1 + e^(logVar1 - logVar2) + (mean1 - mean2)^2 e^(-logVar2)).</summary>
    /// <returns>The broadcast shape of the inputs; the caller owns it.</returns>
    public static Tensor NormalKl(Tensor mean1, Tensor logVar1, Tensor mean2, Tensor logVar2)
    {
        using var scope = NewDisposeScope();
        Tensor kl = (logVar2 - logVar1).sub(Scalars.Of(1))
            .add((logVar1 - logVar2).exp(), Scalars.One)
            .add((mean1 - mean2).pow(Scalars.Of(2)) * logVar2.neg().exp(), Scalars.One);
        return kl.mul(Scalars.Of(0.5)).MoveToOuterDisposeScope();
    }

    /// <summary>The tanh approximation of the standard normal CDF that improved-diffusion uses:
    /// 0.5 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).</summary>
    public static Tensor ApproxStandardNormalCdf(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor inner = x.add(x.pow(Scalars.Of(3)).mul(Scalars.Of(0.044715)), Scalars.One).mul(Scalars.Of(Math.Sqrt(2.0 / Math.PI)));
        return inner.tanh().add(Scalars.Of(1), Scalars.One).mul(Scalars.Of(0.5)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// log p(x) of data discretised into bins of width 2/255 under N(means, e^(2 logScales)), per element: the log of the
    /// CDF difference across the bin x +- 1/255, the lower tail for x &lt; -0.999 and the upper tail for x &gt; 0.999, each
    /// clamped at 1e-12 before the log.
    /// </summary>
    /// <param name="x">The data x_0.</param>
    /// <param name="means">mu_theta, broadcastable to x.</param>
    /// <param name="logScales">log sigma_theta (half the log-variance), broadcastable to x.</param>
    /// <returns>The broadcast shape; the caller owns it.</returns>
    public static Tensor DiscretizedGaussianLogLikelihood(Tensor x, Tensor means, Tensor logScales)
    {
        using var scope = NewDisposeScope();
        Tensor centered = x - means;
        Tensor invStd = logScales.neg().exp();
        Tensor cdfPlus = ApproxStandardNormalCdf(invStd * centered.add(Scalars.Of(1.0 / 255), Scalars.One));
        Tensor cdfMin = ApproxStandardNormalCdf(invStd * centered.sub(Scalars.Of(1.0 / 255)));
        Tensor logCdfPlus = cdfPlus.clamp_min(Scalars.Of(1e-12)).log();
        Tensor logOneMinusCdfMin = cdfMin.neg().add(Scalars.Of(1), Scalars.One).clamp_min(Scalars.Of(1e-12)).log();
        Tensor logDelta = (cdfPlus - cdfMin).clamp_min(Scalars.Of(1e-12)).log();
        Tensor logProbs = where(x.lt(Scalars.Of(-0.999)), logCdfPlus, where(x.gt(Scalars.Of(0.999)), logOneMinusCdfMin, logDelta));
        return logProbs.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// L_t per sample, in bits: the KL of the posterior to p_theta for t &gt; 0, the discretised NLL of x_0 for t = 0, with
    /// p_theta's mean from the detached mean prediction (the stop-gradient) and its variance from the learned half.
    /// </summary>
    /// <param name="schedule">The training noise schedule (T steps; the chain t -> t - 1).</param>
    /// <param name="x0">Clean latents [B, C, H, W].</param>
    /// <param name="xt">Noised latents [B, C, H, W].</param>
    /// <param name="t">The B timesteps, each in [0, T).</param>
    /// <param name="modelOutput">[B, 2C, H, W]: the mean prediction (eps or v) and v of <see cref="LearnedRange"/>.</param>
    /// <param name="prediction">Epsilon or VPrediction.</param>
    /// <returns>[B]; the caller owns it.</returns>
    /// <exception cref="ArgumentException">Shapes do not fit, or a timestep is out of range.</exception>
    public static Tensor Terms(NoiseSchedule schedule, Tensor x0, Tensor xt, long[] t, Tensor modelOutput, PredictionType prediction)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(t);
        if (!LearnedRange.HasVariance(modelOutput, xt) || !x0.shape.SequenceEqual(xt.shape) || x0.shape[0] != t.Length)
            throw new ArgumentException($"expected x0 and xt [B, C, H, W], modelOutput [B, 2C, H, W] and B timesteps; got x0 [{string.Join(", ", x0.shape)}], " +
                                        $"xt [{string.Join(", ", xt.shape)}], modelOutput [{string.Join(", ", modelOutput.shape)}], {t.Length} timesteps", nameof(modelOutput));
        int T = schedule.NumTrainTimesteps;
        foreach (long s in t)
            if (s < 0 || s >= T) throw new ArgumentException($"timestep {s}; expected one in [0, {T})", nameof(t));
        using var scope = NewDisposeScope();

        // 1. Per-sample tables of the chain t -> t - 1, in double from the float32 alpha_bar table: [B] -> [B, 1, 1, 1].
        double Abar(long s) => s >= 0 ? schedule.AlphasCumprod[s] : 1.0;
        double Beta(long s) => 1 - Abar(s) / Abar(s - 1);
        double PosteriorVariance(long s) => (1 - Abar(s - 1)) / (1 - Abar(s)) * Beta(s);
        Tensor Column(Func<long, double> f) => tensor(t.Select(f).ToArray(), dtype: xt.dtype, device: xt.device).reshape(t.Length, 1, 1, 1);
        Tensor c0 = Column(s => Beta(s) * Math.Sqrt(Abar(s - 1)) / (1 - Abar(s)));                         // coefficient of x_0 in mu~
        Tensor ct = Column(s => (1 - Abar(s - 1)) * Math.Sqrt(1 - Beta(s)) / (1 - Abar(s)));              // coefficient of x_t in mu~
        Tensor minLog = Column(s => Math.Log(PosteriorVariance(Math.Max(s, 1))));                          // log beta~_t, clipped at t = 0
        Tensor maxLog = Column(s => Math.Log(Beta(s)));                                                    // log beta_t
        Tensor sqrtAbar = Column(s => Math.Sqrt(Abar(s)));
        Tensor sqrtOneMinusAbar = Column(s => Math.Sqrt(1 - Abar(s)));

        // 2. The true posterior q(x_{t-1} | x_t, x_0).
        Tensor trueMean = (c0 * x0).add(ct * xt, Scalars.One);

        // 3. p_theta: mean from the detached prediction (stop-gradient), log-variance from the learned half.
        var (meanPrediction, v) = LearnedRange.Split(modelOutput);
        Tensor frozen = meanPrediction.detach();
        Tensor x0Predicted = prediction switch
        {
            PredictionType.Epsilon => (xt - sqrtOneMinusAbar * frozen) / sqrtAbar,      // eq. 15 of DDPM
            PredictionType.VPrediction => sqrtAbar * xt - sqrtOneMinusAbar * frozen,
            _ => throw new ArgumentOutOfRangeException(nameof(prediction), prediction, "expected Epsilon or VPrediction"),
        };
        Tensor modelMean = (c0 * x0Predicted).add(ct * xt, Scalars.One);
        Tensor modelLogVar = LearnedRange.LogVariance(v, minLog, maxLog);

        // 4. L_t: KL for t > 0, decoder NLL for t = 0; mean over C, H, W; nats -> bits.
        long[] dims = [1, 2, 3];
        Tensor kl = NormalKl(trueMean, minLog, modelMean, modelLogVar).mean(dims);                                    // [B]
        Tensor nll = DiscretizedGaussianLogLikelihood(x0, modelMean, modelLogVar.mul(Scalars.Of(0.5))).neg().mean(dims); // [B]
        Tensor isFirst = tensor(t.Select(s => s == 0).ToArray(), device: xt.device);
        return where(isFirst, nll, kl).div(Scalars.Of(Math.Log(2))).MoveToOuterDisposeScope();
    }
}
