using System.Globalization;
using System.Runtime.InteropServices;
using Latent.Core.Training;
using Spectre.Console;

namespace Latent.Cli;

/// <summary>
/// Runs a trainer's loop for a <c>latent train</c> command: a progress bar on a terminal, plain lines when output is
/// redirected (the first step, one per phase such as a validation or checkpoint, and about every 2% of the steps), and Ctrl+C or SIGTERM
/// cancelling the loop so that the trainer stops after saving a checkpoint.
/// </summary>
/// <remarks>SIGTERM matters for background runs: a shell starts <c>cmd &amp;</c> with SIGINT ignored, and .NET keeps it
/// ignored, so <c>kill</c> (SIGTERM) is how such a run is stopped; without a handler it would exit at once and lose the
/// steps since the last checkpoint.</remarks>
public static class TrainingConsole
{
    /// <summary>Runs a trainer's <c>Run</c> (see <see cref="Trainer{TStep}"/>) and returns its result.</summary>
    /// <param name="totalSteps">The run's last step (the bar's end).</param>
    /// <param name="currentStep">The step the trainer starts at (after a resume).</param>
    /// <param name="run">The trainer's loop, given the progress sink and the cancellation token.</param>
    /// <param name="describe">One line for a report (see <see cref="Describe{TStep}"/>).</param>
    public static TResult Run<TStep, TResult>(long totalSteps, long currentStep,
        Func<IProgress<TrainingProgress<TStep>>, CancellationToken, TResult> run, Func<TrainingProgress<TStep>, string> describe)
        where TStep : class, ITrainingStep =>
        Run(totalSteps, currentStep, run, p => p.Step, p => p.Event, describe);

    /// <summary>Runs <paramref name="run"/> and returns its result.</summary>
    /// <param name="totalSteps">The run's last step (the bar's end).</param>
    /// <param name="currentStep">The step the trainer starts at (after a resume).</param>
    /// <param name="run">The trainer's loop, given the progress sink and the cancellation token.</param>
    /// <param name="stepOf">The step a progress report is at.</param>
    /// <param name="phaseOf">The report's phase name (e.g. "validated"), or null for an ordinary training step.</param>
    /// <param name="describe">One line for a report.</param>
    public static TResult Run<TProgress, TResult>(long totalSteps, long currentStep,
        Func<IProgress<TProgress>, CancellationToken, TResult> run,
        Func<TProgress, long> stepOf, Func<TProgress, string?> phaseOf, Func<TProgress, string> describe)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cancel.Cancel(); });
        try
        {
            if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
            {
                return AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("starting", maxValue: totalSteps);
                        task.Value = currentStep;
                        return run(new SyncProgress<TProgress>(p => { task.Value = stepOf(p); task.Description = Markup.Escape(describe(p)); }), cancel.Token);
                    });
            }
            long every = Math.Max(1, totalSteps / 50);
            return run(new SyncProgress<TProgress>(p =>
            {
                string? phase = phaseOf(p);
                long step = stepOf(p);
                if (phase is not null || step % every == 0 || step == currentStep + 1)
                    Console.WriteLine((phase is null ? "" : phase + ": ") + describe(p));
            }), cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>One line of a report: step, the trainer's numbers, speed, ETA, the last validation, the grid just drawn,
    /// skipped steps and the export.</summary>
    /// <param name="p">The report.</param>
    /// <param name="numbers">The last step's numbers (e.g. "loss 0.1234 lr 1e-04").</param>
    /// <param name="validation">The last validation in a few words, or null.</param>
    public static string Describe<TStep>(TrainingProgress<TStep> p, Func<TStep, string> numbers, string? validation = null)
        where TStep : class, ITrainingStep
    {
        string text = $"step {p.Step}/{p.TotalSteps}";
        if (p.Last is { } l) text += " " + numbers(l);
        if (p.StepsPerSecond > 0) text += $" | {p.StepsPerSecond.ToString("F2", CultureInfo.InvariantCulture)} it/s";
        if (p.Eta is { } eta) text += $" ETA {(int)eta.TotalHours}:{eta.Minutes:D2}:{eta.Seconds:D2}";
        if (validation is not null) text += " | " + validation;
        if (p.SamplePath is { } path) text += $" | samples {Path.GetFileName(path)}";
        if (p.SkippedSteps > 0) text += $" | {p.SkippedSteps} skipped (non-finite loss or gradient)";
        if (p.Phase == TrainingPhase.Exporting) text += " | exporting";
        return text;
    }
}

/// <summary>Calls an action synchronously on the reporting thread (<see cref="Progress{T}"/> would post it elsewhere).</summary>
public sealed class SyncProgress<T>(Action<T> action) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => action(value);
}
