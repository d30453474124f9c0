using static TorchSharp.torch;

namespace Latent.Schedulers;

/// <summary>
/// A noise scheduler (diffusers' <c>SchedulerMixin</c>): it owns the noise schedule and the sampling algorithm, and
/// never sees the model. Sampling: <see cref="SetTimesteps"/>, then for each t of <see cref="Timesteps"/>: the model
/// predicts from <see cref="ScaleModelInput"/>(x_t, t), and <see cref="Step"/> gives x_{t-1}. Training and img2img:
/// <see cref="AddNoise"/>.
/// </summary>
/// <remarks>
/// Each implementation follows diffusers 0.21 step by step: given the same config, model outputs and noise, it gives the
/// same timesteps and samples to float32 rounding. Random draws take an explicit <see cref="Generator"/>; with the same
/// seed they equal PyTorch's. Implementations are stateful (the timesteps; DPM-Solver's and PNDM's history): one instance per
/// sampling loop, not shared between threads.
/// </remarks>
public interface INoiseScheduler
{
    /// <summary>The config the scheduler was built from (its <c>_class_name</c> names the algorithm).</summary>
    SchedulerConfig Config { get; }

    /// <summary>The forward-process tables beta_t, alpha_t, alpha_bar_t.</summary>
    NoiseSchedule Schedule { get; }

    /// <summary>The sampling timesteps, first (noisiest) to last, after <see cref="SetTimesteps"/>; before it, T-1 .. 0 as diffusers.</summary>
    /// <remarks>Whole numbers for DDPM, DDIM, PNDM and DPM-Solver (int64 in diffusers); fractional for Euler "linspace" and Karras (float64 in diffusers).</remarks>
    IReadOnlyList<double> Timesteps { get; }

    /// <summary>The dtype diffusers gives its timesteps tensor: <see cref="ScalarType.Int64"/>, or <see cref="ScalarType.Float64"/> for Euler.</summary>
    ScalarType TimestepDtype { get; }

    /// <summary>The number of inference steps the last <see cref="SetTimesteps"/> asked for (null before the first call).</summary>
    int? NumInferenceSteps { get; }

    /// <summary>How many model evaluations one <see cref="Step"/> consumes per timestep (diffusers' <c>order</c>; 1 for every scheduler here, PNDM included: its extra calls are extra timesteps).</summary>
    int Order { get; }

    /// <summary>The standard deviation of the initial noise x_T = InitNoiseSigma * N(0, I) (1 for DDPM/DDIM/PNDM/DPM-Solver, the largest sigma for Euler; float32 as diffusers).</summary>
    float InitNoiseSigma { get; }

    /// <summary>Chooses the inference timesteps (diffusers' <c>set_timesteps</c>) and resets any sampling state.</summary>
    /// <param name="numInferenceSteps">The number of sampling steps n, 1 &lt;= n &lt;= T.</param>
    /// <exception cref="ArgumentOutOfRangeException">n is outside [1, T].</exception>
    void SetTimesteps(int numInferenceSteps);

    /// <summary>The model input at timestep t (diffusers' <c>scale_model_input</c>): x_t itself, or x_t / sqrt(sigma^2 + 1) for Euler.</summary>
    /// <param name="sample">x_t: [B, C, H, W].</param>
    /// <param name="timestep">t, one of <see cref="Timesteps"/>.</param>
    /// <returns>A new tensor (the caller disposes it), the shape of <paramref name="sample"/>.</returns>
    Tensor ScaleModelInput(Tensor sample, double timestep);

    /// <summary>One reverse step from x_t to x_{t-1} (diffusers' <c>step(...).prev_sample</c>).</summary>
    /// <param name="modelOutput">The model's prediction at (x_t, t): [B, C, H, W] (DDPM "learned" variances: [B, 2C, H, W]).</param>
    /// <param name="timestep">t, one of <see cref="Timesteps"/>.</param>
    /// <param name="sample">x_t: [B, C, H, W].</param>
    /// <param name="generator">The random generator for the step's noise (DDPM, DDIM with eta &gt; 0, Euler ancestral); null draws from torch's default generator.</param>
    /// <returns>x_{t-1}: a new tensor, the shape of <paramref name="sample"/>. Inputs are not disposed.</returns>
    Tensor Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null);

    /// <summary>Noises x_0 to the level of timestep t (diffusers' <c>add_noise</c>; q(x_t | x_0), DDPM eq. 4, for DDPM/DDIM/DPM-Solver).</summary>
    /// <param name="originalSamples">x_0: [B, ...].</param>
    /// <param name="noise">eps: the shape of <paramref name="originalSamples"/>.</param>
    /// <param name="timesteps">t: 0-dim or [B] (one per sample, e.g. int64 training timesteps).</param>
    /// <returns>x_t: a new tensor, the shape of <paramref name="originalSamples"/>.</returns>
    Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps);
}
