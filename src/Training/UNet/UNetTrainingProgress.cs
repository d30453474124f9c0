using Latent.Core.Training;
using Latent.Pipeline;

namespace Latent.Training.UNet;

/// <summary>The numbers of one training step.</summary>
/// <param name="Loss">The (min-SNR weighted) MSE that was minimised.</param>
/// <param name="GradNorm">The total gradient norm before clipping.</param>
/// <param name="LearningRate">The learning rate of this step.</param>
/// <param name="Skipped">Whether the update was skipped because the loss or gradient norm was not finite.</param>
public sealed record UNetStepResult(double Loss, double GradNorm, double LearningRate, bool Skipped) : ITrainingStep;

/// <summary>What <see cref="UNetTrainer.Run"/> achieved.</summary>
/// <param name="Step">Completed steps when it returned.</param>
/// <param name="Completed">Whether the run reached its last step (false: stopped early or cancelled; resume later).</param>
/// <param name="LastLoss">The loss averaged over the last logged interval, or NaN when no step ran.</param>
/// <param name="ExportDirectory">OUT, now a complete diffusers pipeline folder, when the run completed.</param>
public sealed record UNetTrainingResult(long Step, bool Completed, double LastLoss, string? ExportDirectory);
