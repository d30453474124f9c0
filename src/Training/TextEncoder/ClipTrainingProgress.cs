using Latent.Core.Training;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder;

namespace Latent.Training.TextEncoder;

/// <summary>The numbers of one training step.</summary>
/// <param name="Loss">The masked symmetric InfoNCE loss.</param>
/// <param name="LogitScale">exp(logit_scale) after the step's clamp: the temperature multiplier (≤ 100).</param>
/// <param name="BatchAccuracy">Fraction of captions whose most similar image in the batch is their own (masked pairs excluded).</param>
/// <param name="MaskedPairs">Ordered (i, j) pairs masked as false negatives in this batch.</param>
/// <param name="GradNorm">The total gradient norm before clipping.</param>
/// <param name="LearningRate">The learning rate of this step.</param>
/// <param name="Skipped">Whether the update was skipped because the loss or gradient norm was not finite.</param>
public sealed record ClipStepLosses(double Loss, double LogitScale, double BatchAccuracy, int MaskedPairs, double GradNorm, double LearningRate, bool Skipped) : ITrainingStep;

/// <summary>What <see cref="ClipTrainer.Run"/> achieved.</summary>
/// <param name="Step">Completed steps when it returned.</param>
/// <param name="Completed">Whether the run reached its last step (false: stopped early or cancelled; resume later).</param>
/// <param name="Validation">The last validation, or null when none ran.</param>
/// <param name="ExportDirectory">The run folder holding <c>text_encoder/</c>, <c>image_encoder/</c> and <c>tokenizer/</c>, when the run completed.</param>
public sealed record ClipTrainingResult(long Step, bool Completed, ClipEvaluation? Validation, string? ExportDirectory);
