using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// The forward process of DDPM (Ho et al. 2020) over T training steps: beta_t, alpha_t = 1 - beta_t and
/// alpha_bar_t = prod_{s &lt;= t} alpha_s, as float32 tables exactly as diffusers 0.21 computes them, and
/// q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) (eq. 4) for training and img2img.
/// </summary>
/// <remarks>
/// diffusers holds these tables as float32 torch tensors. They are computed here with the same torch operations
/// (<c>linspace</c> in float32, <c>** 2</c>, <c>cumprod</c>) on the same libtorch CPU kernels, so that they round exactly
/// as diffusers' do; the cosine schedule is computed in double and stored as float32, as diffusers'
/// <c>betas_for_alpha_bar</c> does. Timesteps t are 0-based: t = 0 is the least noisy step.
/// </remarks>
public sealed class NoiseSchedule
{
    /// <summary>Builds the tables for <paramref name="config"/>.</summary>
    /// <param name="config">The scheduler config (schedule, betas, T).</param>
    /// <param name="allowSigmoid">Whether the "sigmoid" schedule is allowed (diffusers 0.21: DDPMScheduler only).</param>
    /// <param name="allowRescale">Whether <c>rescale_betas_zero_snr</c> may be true (diffusers 0.21: DDIMScheduler only).</param>
    /// <exception cref="ArgumentException">T is not positive, or trained_betas has another length or values outside [0, 1).</exception>
    /// <exception cref="NotSupportedException">The schedule or the rescaling is not supported by the scheduler class.</exception>
    public NoiseSchedule(SchedulerConfig config, bool allowSigmoid = false, bool allowRescale = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        int T = config.NumTrainTimesteps;
        if (T < 2)
            throw new ArgumentException($"num_train_timesteps must be at least 2, got {T}.", nameof(config));

        using var scope = NewDisposeScope();
        Tensor betas;
        if (config.TrainedBetas is double[] trained)
        {
            if (trained.Length != T)
                throw new ArgumentException(
                    $"trained_betas has {trained.Length} values, expected num_train_timesteps = {T}.", nameof(config));
            int bad = Array.FindIndex(trained, b => !(b >= 0 && b < 1));
            if (bad >= 0)
                throw new ArgumentException($"trained_betas[{bad}] = {trained[bad]}, expected a value in [0, 1).", nameof(config));
            // torch.tensor(trained_betas, dtype=torch.float32)
            betas = tensor(trained.Select(b => (float)b).ToArray());
        }
        else
        {
            betas = config.BetaSchedule switch
            {
                BetaSchedule.Linear => linspace(config.BetaStart, config.BetaEnd, T, dtype: ScalarType.Float32),
                BetaSchedule.ScaledLinear =>
                    linspace(Math.Sqrt(config.BetaStart), Math.Sqrt(config.BetaEnd), T, dtype: ScalarType.Float32).pow(Scalars.Of(2)),
                BetaSchedule.SquaredCosCapV2 => tensor(CosineBetas(T).Select(b => (float)b).ToArray()),
                BetaSchedule.Sigmoid when allowSigmoid => SigmoidBetas(config.BetaStart, config.BetaEnd, T),
                _ => throw new NotSupportedException(
                    $"beta_schedule '{config.BetaSchedule}' is not implemented for {config.ClassName ?? "this scheduler"} " +
                    "(diffusers 0.21 accepts linear, scaled_linear and squaredcos_cap_v2; sigmoid only in DDPMScheduler)."),
            };
        }

        if (config.RescaleBetasZeroSnr == true)
        {
            if (!allowRescale)
                throw new NotSupportedException(
                    $"rescale_betas_zero_snr = true is not supported by {config.ClassName ?? "this scheduler"} " +
                    "(in diffusers 0.21 only DDIMScheduler has it).");
            betas = RescaleZeroTerminalSnr(betas);
        }

        Tensor alphas = betas.neg().add(Scalars.Of(1.0), Scalars.One);   // alpha_t = 1 - beta_t
        Tensor alphasCumprod = alphas.cumprod(0);     // alpha_bar_t = prod_{s<=t} alpha_s (float32 out, double accumulator on CPU)
        Betas = betas.data<float>().ToArray();
        Alphas = alphas.data<float>().ToArray();
        AlphasCumprod = alphasCumprod.data<float>().ToArray();
    }

    /// <summary>Training steps T.</summary>
    public int NumTrainTimesteps => Betas.Length;

    /// <summary>beta_t for t = 0 .. T-1 (float32, as diffusers' <c>betas</c>).</summary>
    public float[] Betas { get; }

    /// <summary>alpha_t = 1 - beta_t (float32, as diffusers' <c>alphas</c>).</summary>
    public float[] Alphas { get; }

    /// <summary>alpha_bar_t = prod_{s &lt;= t} alpha_s (float32, as diffusers' <c>alphas_cumprod</c>).</summary>
    public float[] AlphasCumprod { get; }

    /// <summary>
    /// The cosine schedule of improved DDPM (eq. 17): alpha_bar(t) = cos^2(((t + 0.008) / 1.008) pi/2),
    /// beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), 0.999), in double as diffusers' <c>betas_for_alpha_bar</c>.
    /// </summary>
    /// <param name="T">The number of betas.</param>
    /// <param name="maxBeta">The cap that keeps beta_t below 1 near t = T.</param>
    /// <returns>beta_0 .. beta_{T-1} in double (diffusers then stores them as float32).</returns>
    public static double[] CosineBetas(int T, double maxBeta = 0.999)
    {
        static double AlphaBar(double t) { double c = Math.Cos((t + 0.008) / 1.008 * Math.PI / 2); return c * c; }
        var betas = new double[T];
        for (int i = 0; i < T; i++)
        {
            double t1 = (double)i / T, t2 = (double)(i + 1) / T;
            betas[i] = Math.Min(1 - AlphaBar(t2) / AlphaBar(t1), maxBeta);
        }
        return betas;
    }

    /// <summary>diffusers' "sigmoid" betas: sigmoid(linspace(-6, 6, T)) (end - start) + start, in float32.</summary>
    static Tensor SigmoidBetas(double start, double end, int T) =>
        (linspace(-6, 6, T, dtype: ScalarType.Float32).sigmoid() * Scalars.Of(end - start)).add(Scalars.Of(start), Scalars.One);

    /// <summary>
    /// Zero terminal SNR (Lin et al. 2023, Algorithm 1): shift sqrt(alpha_bar_t) so that it is 0 at t = T-1, scale it so
    /// that it keeps its value at t = 0, and convert back to betas; float32 torch operations as diffusers.
    /// </summary>
    static Tensor RescaleZeroTerminalSnr(Tensor betas)
    {
        Tensor alphasBarSqrt = betas.neg().add(Scalars.Of(1.0), Scalars.One).cumprod(0).sqrt();   // sqrt(prod (1 - beta))
        Tensor first = alphasBarSqrt[0].clone(), last = alphasBarSqrt[-1].clone();
        alphasBarSqrt = alphasBarSqrt - last;
        alphasBarSqrt = alphasBarSqrt * (first / (first - last));
        Tensor alphasBar = alphasBarSqrt.pow(Scalars.Of(2));
        Tensor alphas = cat([alphasBar[..1], alphasBar[1..] / alphasBar[..^1]], 0);
        return alphas.neg().add(Scalars.Of(1.0), Scalars.One);   // 1 - alpha
    }

    /// <summary>
    /// Samples q(x_t | x_0) (DDPM eq. 4): x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, one t per sample, as
    /// diffusers' <c>add_noise</c> (used by training and by img2img's first step).
    /// </summary>
    /// <param name="x0">Clean samples x_0: [B, ...].</param>
    /// <param name="noise">eps ~ N(0, I), the shape of <paramref name="x0"/>.</param>
    /// <param name="timesteps">t: a 0-dim tensor (one t for all) or [B] (one t per sample), integer, in [0, T).</param>
    /// <returns>x_t: the shape and dtype of <paramref name="x0"/>.</returns>
    /// <exception cref="ArgumentException">The shapes disagree, or a t is not an integer in [0, T).</exception>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor timesteps)
    {
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentNullException.ThrowIfNull(timesteps);
        if (!x0.shape.SequenceEqual(noise.shape))
            throw new ArgumentException(
                $"noise has shape [{string.Join(", ", noise.shape)}], expected the shape of x0 [{string.Join(", ", x0.shape)}].", nameof(noise));
        long[] t = TimestepIndices(timesteps, x0.shape.Length == 0 ? 1 : x0.shape[0], NumTrainTimesteps);

        using var scope = NewDisposeScope();
        // x0: [B, ...], t: [B] -> coefficients [B, 1, ..., 1]; float32 table values cast to x0's dtype, as diffusers.
        long[] coefShape = [t.Length, .. Enumerable.Repeat(1L, Math.Max(x0.shape.Length - 1, 0))];
        float[] sqrtAlphaBar = t.Select(i => MathF.Sqrt(AlphasCumprod[i])).ToArray();          // alpha_bar_t ** 0.5
        float[] sqrtOneMinus = t.Select(i => MathF.Sqrt(1f - AlphasCumprod[i])).ToArray();    // (1 - alpha_bar_t) ** 0.5
        Tensor a = tensor(sqrtAlphaBar).to(x0.dtype, x0.device).reshape(coefShape);
        Tensor s = tensor(sqrtOneMinus).to(x0.dtype, x0.device).reshape(coefShape);
        return (a * x0).add(s * noise, Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Reads integer timesteps from a 0-dim or [B] tensor (any integer or floating dtype holding whole numbers) and
    /// checks them against [0, T): a 0-dim tensor is repeated <paramref name="batch"/> times.
    /// </summary>
    internal static long[] TimestepIndices(Tensor timesteps, long batch, int T)
    {
        if (timesteps.dim() > 1)
            throw new ArgumentException(
                $"timesteps has shape [{string.Join(", ", timesteps.shape)}], expected a 0-dim tensor or [B].", nameof(timesteps));
        double[] values;
        using (Tensor d = timesteps.detach().cpu().to(ScalarType.Float64))
            values = d.data<double>().ToArray();
        if (timesteps.dim() == 1 && values.Length != batch)
            throw new ArgumentException($"timesteps has {values.Length} entries, expected one per sample (B = {batch}).", nameof(timesteps));
        var result = new long[timesteps.dim() == 0 ? batch : values.Length];
        for (int i = 0; i < result.Length; i++)
        {
            double v = values[timesteps.dim() == 0 ? 0 : i];
            if (v != Math.Floor(v) || v < 0 || v >= T)
                throw new ArgumentException($"timestep {v} is not an integer in [0, {T}).", nameof(timesteps));
            result[i] = (long)v;
        }
        return result;
    }
}
