using Latent.Vae.Evaluation;

namespace Latent.Vae.Training;

/// <summary>What the trainer is doing when it reports.</summary>
public enum VaeTrainingPhase
{
    /// <summary>A training step just finished.</summary>
    Training,

    /// <summary>Validation (PSNR, SSIM) just finished; <see cref="VaeTrainingProgress.Validation"/> holds it.</summary>
    Validated,

    /// <summary>A checkpoint was just written.</summary>
    Checkpointed,

    /// <summary>The final export (scaling factor, <c>vae/</c>) is starting.</summary>
    Exporting,
}

/// <summary>The losses of one training step (per-pixel units, see <see cref="VaeTrainingConfig"/>).</summary>
/// <param name="Loss">The VAE's total loss.</param>
/// <param name="Reconstruction">The L1 or L2 reconstruction term.</param>
/// <param name="Kl">KL per pixel value (before its weight).</param>
/// <param name="Generator">The generator hinge term −mean D(x̂); 0 before the discriminator starts.</param>
/// <param name="Discriminator">The discriminator's hinge loss; 0 before it starts.</param>
/// <param name="AdaptiveWeight">λ · discriminator_weight, the GAN term's weight; 0 before the start.</param>
/// <param name="GradNorm">The VAE's total gradient norm before clipping.</param>
/// <param name="LearningRate">The learning rate of this step.</param>
/// <param name="Skipped">Whether the VAE's update was skipped because the loss or gradient norm was not finite.</param>
public sealed record VaeStepLosses(
    double Loss, double Reconstruction, double Kl, double Generator, double Discriminator, double AdaptiveWeight,
    double GradNorm, double LearningRate, bool Skipped);

/// <summary>A progress report of <see cref="VaeTrainer.Run"/>.</summary>
/// <param name="Step">Completed optimizer steps.</param>
/// <param name="TotalSteps">The run's total.</param>
/// <param name="Phase">What just happened.</param>
/// <param name="Losses">The last step's losses (null before the first step of this process).</param>
/// <param name="StepsPerSecond">Training speed (an average over recent steps, validation excluded); 0 before the first step.</param>
/// <param name="Eta">Estimated time to the last step, or null while unknown.</param>
/// <param name="Validation">The last validation result, or null before the first.</param>
/// <param name="SkippedSteps">Steps whose update was skipped for a non-finite loss or gradient norm, in this process.</param>
public sealed record VaeTrainingProgress(
    long Step, long TotalSteps, VaeTrainingPhase Phase, VaeStepLosses? Losses, double StepsPerSecond, TimeSpan? Eta,
    VaeEvaluation? Validation, long SkippedSteps);

/// <summary>What <see cref="VaeTrainer.Run"/> achieved.</summary>
/// <param name="Step">Completed steps when it returned.</param>
/// <param name="Completed">Whether the run reached its last step (false: stopped early or cancelled; resume later).</param>
/// <param name="Validation">The last validation, or null when none ran.</param>
/// <param name="ScalingFactor">The measured 1 / std(z), when the run completed.</param>
/// <param name="ExportDirectory">The exported <c>vae/</c> folder, when the run completed.</param>
public sealed record VaeTrainingResult(long Step, bool Completed, VaeEvaluation? Validation, double? ScalingFactor, string? ExportDirectory);
