using System.Runtime.InteropServices;
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
}

/// <summary>Calls an action synchronously on the reporting thread (<see cref="Progress{T}"/> would post it elsewhere).</summary>
public sealed class SyncProgress<T>(Action<T> action) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => action(value);
}
