using Latent.TextEncoder.Evaluation;

namespace Latent.TextEncoder.Training;

/// <summary>What the trainer is doing when it reports.</summary>
public enum ClipTrainingPhase
{
    /// <summary>A training step just finished.</summary>
    Training,

    /// <summary>Validation just finished; <see cref="ClipTrainingProgress.Validation"/> holds it.</summary>
    Validated,

    /// <summary>A checkpoint was just written.</summary>
    Checkpointed,

    /// <summary>The final export (<c>text_encoder/</c>, <c>image_encoder/</c>, <c>tokenizer/</c>) is starting.</summary>
    Exporting,
}

/// <summary>The numbers of one training step.</summary>
/// <param name="Loss">The masked symmetric InfoNCE loss.</param>
/// <param name="LogitScale">exp(logit_scale) after the step's clamp: the temperature multiplier (≤ 100).</param>
/// <param name="BatchAccuracy">Fraction of captions whose most similar image in the batch is their own (masked pairs excluded).</param>
/// <param name="MaskedPairs">Ordered (i, j) pairs masked as false negatives in this batch.</param>
/// <param name="GradNorm">The total gradient norm before clipping.</param>
/// <param name="LearningRate">The learning rate of this step.</param>
/// <param name="Skipped">Whether the update was skipped because the loss or gradient norm was not finite.</param>
public sealed record ClipStepLosses(double Loss, double LogitScale, double BatchAccuracy, int MaskedPairs, double GradNorm, double LearningRate, bool Skipped);

/// <summary>A progress report of <see cref="ClipTrainer.Run"/>.</summary>
/// <param name="Step">Completed optimizer steps.</param>
/// <param name="TotalSteps">The run's total.</param>
/// <param name="Phase">What just happened.</param>
/// <param name="Losses">The last step's numbers (null before the first step of this process).</param>
/// <param name="StepsPerSecond">Training speed (a moving average, validation excluded); 0 before the first step.</param>
/// <param name="Eta">Estimated time to the last step, or null while unknown.</param>
/// <param name="Validation">The last validation, or null before the first.</param>
/// <param name="SkippedSteps">Steps whose update was skipped for a non-finite loss or gradient norm, in this process.</param>
public sealed record ClipTrainingProgress(
    long Step, long TotalSteps, ClipTrainingPhase Phase, ClipStepLosses? Losses, double StepsPerSecond, TimeSpan? Eta,
    ClipEvaluation? Validation, long SkippedSteps);

/// <summary>What <see cref="ClipTrainer.Run"/> achieved.</summary>
/// <param name="Step">Completed steps when it returned.</param>
/// <param name="Completed">Whether the run reached its last step (false: stopped early or cancelled; resume later).</param>
/// <param name="Validation">The last validation, or null when none ran.</param>
/// <param name="ExportDirectory">The run folder holding <c>text_encoder/</c>, <c>image_encoder/</c> and <c>tokenizer/</c>, when the run completed.</param>
public sealed record ClipTrainingResult(long Step, bool Completed, ClipEvaluation? Validation, string? ExportDirectory);
