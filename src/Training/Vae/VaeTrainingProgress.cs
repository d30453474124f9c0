using Latent.Core.Training;
using Latent.Vae.Evaluation;
using Latent.Vae;

namespace Latent.Training.Vae;

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
    double GradNorm, double LearningRate, bool Skipped) : ITrainingStep;

/// <summary>What <see cref="VaeTrainer.Run"/> achieved.</summary>
/// <param name="Step">Completed steps when it returned.</param>
/// <param name="Completed">Whether the run reached its last step (false: stopped early or cancelled; resume later).</param>
/// <param name="Validation">The last validation, or null when none ran.</param>
/// <param name="ScalingFactor">The measured 1 / std(z), when the run completed.</param>
/// <param name="ExportDirectory">The exported <c>vae/</c> folder, when the run completed.</param>
public sealed record VaeTrainingResult(long Step, bool Completed, VaeEvaluation? Validation, double? ScalingFactor, string? ExportDirectory);
