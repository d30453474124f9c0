namespace Latent.Core.Training;

/// <summary>What a trainer is doing when it reports.</summary>
public enum TrainingPhase
{
    /// <summary>A training step just finished.</summary>
    Training,

    /// <summary>Validation just finished (the trainer's last validation holds it).</summary>
    Validated,

    /// <summary>A sample grid was just written (<see cref="TrainingProgress{TStep}.SamplePath"/> on rank 0).</summary>
    Sampled,

    /// <summary>A checkpoint was just written.</summary>
    Checkpointed,

    /// <summary>The final export is starting.</summary>
    Exporting,
}

/// <summary>The numbers of one training step that every trainer has; each trainer's step record adds its own.</summary>
public interface ITrainingStep
{
    /// <summary>The loss that was minimised.</summary>
    double Loss { get; }

    /// <summary>The total gradient norm before clipping.</summary>
    double GradNorm { get; }

    /// <summary>The learning rate of this step.</summary>
    double LearningRate { get; }

    /// <summary>Whether the update was skipped because the loss or gradient norm was not finite.</summary>
    bool Skipped { get; }
}

/// <summary>A progress report of a trainer's <c>Run</c>.</summary>
/// <typeparam name="TStep">The trainer's step record.</typeparam>
/// <param name="Step">Completed optimizer steps.</param>
/// <param name="TotalSteps">The run's total.</param>
/// <param name="Phase">What just happened.</param>
/// <param name="Last">The last step's numbers (null before the first step of this process).</param>
/// <param name="StepsPerSecond">Training speed (a moving average over recent steps, validation and samples excluded); 0 before the first step.</param>
/// <param name="Eta">Estimated time to the last step, or null while unknown.</param>
/// <param name="SkippedSteps">Steps whose update was skipped for a non-finite loss or gradient norm, in this process.</param>
/// <param name="SamplePath">The grid just written (phase <see cref="TrainingPhase.Sampled"/>, rank 0), else null.</param>
public sealed record TrainingProgress<TStep>(
    long Step, long TotalSteps, TrainingPhase Phase, TStep? Last, double StepsPerSecond, TimeSpan? Eta, long SkippedSteps, string? SamplePath = null)
    where TStep : class, ITrainingStep
{
    /// <summary>The report's event for a log line: the phase's name ("validated", ...), "skipped" for a step whose update was
    /// skipped, or null for an ordinary training step.</summary>
    public string? Event => Phase != TrainingPhase.Training ? Phase.ToString().ToLowerInvariant() : Last is { Skipped: true } ? "skipped" : null;
}
