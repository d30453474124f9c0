namespace Latent.Pipeline.Training;

/// <summary>What the U-Net trainer is doing when it reports.</summary>
public enum UNetTrainingPhase
{
    /// <summary>A training step just finished.</summary>
    Training,

    /// <summary>A sample grid was just written.</summary>
    Sampled,

    /// <summary>A checkpoint was just written.</summary>
    Checkpointed,

    /// <summary>The final export (<c>unet/</c>, <c>scheduler/</c>, <c>model_index.json</c>) is starting.</summary>
    Exporting,
}

/// <summary>The numbers of one training step.</summary>
/// <param name="Loss">The (min-SNR weighted) MSE that was minimised.</param>
/// <param name="GradNorm">The total gradient norm before clipping.</param>
/// <param name="LearningRate">The learning rate of this step.</param>
/// <param name="Skipped">Whether the update was skipped because the loss or gradient norm was not finite.</param>
public sealed record UNetStepResult(double Loss, double GradNorm, double LearningRate, bool Skipped);

/// <summary>A progress report of <see cref="UNetTrainer.Run"/>.</summary>
/// <param name="Step">Completed optimizer steps.</param>
/// <param name="TotalSteps">The run's total.</param>
/// <param name="Phase">What just happened.</param>
/// <param name="Last">The last step's numbers (null before the first step of this process).</param>
/// <param name="StepsPerSecond">Training speed (a running average over recent steps, grids excluded); 0 before the first step.</param>
/// <param name="Eta">Estimated time to the last step, or null while unknown.</param>
/// <param name="SamplePath">The grid just written (phase <see cref="UNetTrainingPhase.Sampled"/>), else null.</param>
/// <param name="SkippedSteps">Steps whose update was skipped for a non-finite loss or gradient norm, in this process.</param>
public sealed record UNetTrainingProgress(
    long Step, long TotalSteps, UNetTrainingPhase Phase, UNetStepResult? Last, double StepsPerSecond, TimeSpan? Eta, string? SamplePath,
    long SkippedSteps);

/// <summary>What <see cref="UNetTrainer.Run"/> achieved.</summary>
/// <param name="Step">Completed steps when it returned.</param>
/// <param name="Completed">Whether the run reached its last step (false: stopped early or cancelled; resume later).</param>
/// <param name="LastLoss">The loss averaged over the last logged interval, or NaN when no step ran.</param>
/// <param name="ExportDirectory">OUT, now a complete diffusers pipeline folder, when the run completed.</param>
public sealed record UNetTrainingResult(long Step, bool Completed, double LastLoss, string? ExportDirectory);
