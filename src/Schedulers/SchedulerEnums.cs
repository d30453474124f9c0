using System.Text.Json.Serialization;

namespace Latent.Schedulers;

/// <summary>How beta_t is laid out over the training steps t = 0 .. T-1 (diffusers' <c>beta_schedule</c>).</summary>
public enum BetaSchedule
{
    /// <summary>"linear": beta_t = linspace(beta_start, beta_end, T) in float32 (DDPM paper, section 4).</summary>
    Linear,

    /// <summary>"scaled_linear": beta_t = linspace(sqrt(beta_start), sqrt(beta_end), T)^2 in float32 (latent diffusion, SD 1.x/2.x).</summary>
    ScaledLinear,

    /// <summary>"squaredcos_cap_v2": the cosine schedule of improved DDPM (Nichol &amp; Dhariwal 2021, eq. 17), beta_t capped at 0.999.</summary>
    [JsonStringEnumMemberName("squaredcos_cap_v2")] SquaredCosCapV2,

    /// <summary>"sigmoid": beta_t = sigmoid(linspace(-6, 6, T)) (beta_end - beta_start) + beta_start; DDPMScheduler only (GeoDiff).</summary>
    Sigmoid,
}

/// <summary>What the network predicts (diffusers' <c>prediction_type</c>).</summary>
public enum PredictionType
{
    /// <summary>"epsilon": the noise eps of x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (DDPM paper, eq. 4 and 14).</summary>
    Epsilon,

    /// <summary>"sample": x_0 itself.</summary>
    Sample,

    /// <summary>"v_prediction": v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans &amp; Ho 2022, section 4; Imagen Video 2.4).</summary>
    VPrediction,
}

/// <summary>
/// How the inference timesteps are picked among the T training steps (diffusers' <c>timestep_spacing</c>; Table 2 of
/// "Common Diffusion Noise Schedules and Sample Steps are Flawed", Lin et al. 2023).
/// </summary>
public enum TimestepSpacing
{
    /// <summary>"linspace": round(linspace(0, T-1, n)), reversed (Euler and DPM-Solver default).</summary>
    Linspace,

    /// <summary>"leading": (0, T/n, 2T/n, ...) reversed, plus <c>steps_offset</c> (SD 1.x: 981 ... 1 for 50 steps).</summary>
    Leading,

    /// <summary>"trailing": round(arange(T, 0, -T/n)) - 1 (starts at T-1).</summary>
    Trailing,
}

/// <summary>DDPM's choice of the reverse-process variance sigma_t^2 (diffusers' <c>variance_type</c>; DDPM paper section 3.2).</summary>
public enum VarianceType
{
    /// <summary>"fixed_small": sigma_t^2 = beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t, the posterior variance (eq. 7).</summary>
    FixedSmall,

    /// <summary>"fixed_small_log": the same variance, computed through its log (diffusers' RL variant).</summary>
    FixedSmallLog,

    /// <summary>"fixed_large": sigma_t^2 = beta_t.</summary>
    FixedLarge,

    /// <summary>"fixed_large_log": log(beta_t); diffusers 0.21 takes its square root as a standard deviation, which gives NaN, so it is refused.</summary>
    FixedLargeLog,

    /// <summary>"learned": the network's second half of channels is sigma_t^2 itself.</summary>
    Learned,

    /// <summary>"learned_range": the network interpolates log sigma_t^2 between log beta~_t and log beta_t (improved DDPM, eq. 15).</summary>
    LearnedRange,
}

/// <summary>What DPM-Solver integrates (diffusers' <c>algorithm_type</c>). Only DPM-Solver++ is implemented.</summary>
public enum DpmSolverAlgorithmType
{
    /// <summary>"dpmsolver++": the data-prediction (x_0) form of Lu et al. 2022b, the one used for guided sampling.</summary>
    [JsonStringEnumMemberName("dpmsolver++")] DpmSolverPlusPlus,

    /// <summary>"dpmsolver": the noise-prediction form (not implemented).</summary>
    [JsonStringEnumMemberName("dpmsolver")] DpmSolver,

    /// <summary>"sde-dpmsolver++": the stochastic data-prediction form (not implemented).</summary>
    [JsonStringEnumMemberName("sde-dpmsolver++")] SdeDpmSolverPlusPlus,

    /// <summary>"sde-dpmsolver": the stochastic noise-prediction form (not implemented).</summary>
    [JsonStringEnumMemberName("sde-dpmsolver")] SdeDpmSolver,

    /// <summary>"deis": diffusers maps it to "dpmsolver++" on construction.</summary>
    [JsonStringEnumMemberName("deis")] Deis,
}

/// <summary>The second-order correction of multistep DPM-Solver (diffusers' <c>solver_type</c>).</summary>
public enum DpmSolverType
{
    /// <summary>"midpoint": D1 weighted by 1/2 (the DPM-Solver++ paper's choice).</summary>
    Midpoint,

    /// <summary>"heun": D1 weighted by (e^{-h} - 1)/h + 1.</summary>
    Heun,

    /// <summary>"logrho": a DEIS type, mapped to "midpoint" by diffusers.</summary>
    Logrho,

    /// <summary>"bh1": a UniPC type, mapped to "midpoint" by diffusers.</summary>
    Bh1,

    /// <summary>"bh2": a UniPC type, mapped to "midpoint" by diffusers.</summary>
    Bh2,
}

/// <summary>How the Euler scheduler maps its timesteps to sigmas (diffusers' <c>interpolation_type</c>).</summary>
public enum InterpolationType
{
    /// <summary>"linear": np.interp of the training sigmas at the (fractional) timesteps.</summary>
    Linear,

    /// <summary>"log_linear": sigmas evenly spaced in log sigma (not implemented).</summary>
    LogLinear,
}
