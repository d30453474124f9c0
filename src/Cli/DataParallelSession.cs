using System.CommandLine;
using System.Globalization;
using System.Runtime.CompilerServices;
using Latent.Core.Training;
using Latent.Distributed;

namespace Latent.Cli;

/// <summary>
/// The processes a <c>latent train</c> command runs as: one (no <c>mpiexec</c>: <see cref="SingleProcess"/>, and MPI is
/// never loaded), or the N ranks that <c>mpiexec -n N</c> started (<see cref="MpiDataParallel"/>). Ranks other than 0
/// print nothing to stdout (rank 0 reports for all); errors still go to stderr, prefixed with the rank.
/// </summary>
internal sealed class DataParallelSession : IDisposable
{
    /// <summary><c>--collective-timeout</c>, the option of every data-parallel <c>latent train</c> command.</summary>
    public static readonly Option<double> CollectiveTimeout = new("--collective-timeout")
    {
        Description = "Under mpiexec: seconds a rank waits in a collective call (all-reduce, all-gather) for the others before it ends the whole run " +
                      "(a rank that hangs or whose machine is gone); rank 0's sample grids, validations and checkpoints must fit in it.",
        DefaultValueFactory = _ => Latent.Distributed.MpiLaunch.DefaultCollectiveTimeout.TotalSeconds,
        Validators = { OptionChecks.Rule<double>(v => v > 0 && double.IsFinite(v) ? null : $"--collective-timeout must be a positive number of seconds; got {v.ToString(CultureInfo.InvariantCulture)}.") },
    };

    readonly Action complete;
    readonly IDisposable? owner;
    readonly TextWriter? silencedOut;

    DataParallelSession(IDataParallel parallel, Action complete, IDisposable? owner)
    {
        Parallel = parallel;
        this.complete = complete;
        this.owner = owner;
        if (parallel.Rank != 0)
        {
            silencedOut = Console.Out;
            Console.SetOut(TextWriter.Null);
        }
    }

    /// <summary>The ranks.</summary>
    public IDataParallel Parallel { get; }

    /// <summary>Starts MPI when this process was started by <c>mpiexec</c>, else the one-process session.</summary>
    /// <param name="timeout">The longest a collective call may wait for the other ranks.</param>
    public static DataParallelSession Start(TimeSpan timeout) =>
        MpiLaunch.Detect() is null ? new DataParallelSession(SingleProcess.Instance, () => { }, null) : StartMpi(timeout);

    // Kept out of Start so that compiling Start never loads MPI.NET (a run without mpiexec must not load it).
    [MethodImpl(MethodImplOptions.NoInlining)]
    static DataParallelSession StartMpi(TimeSpan timeout)
    {
        var mpi = MpiDataParallel.Start(timeout);
        return new DataParallelSession(mpi, mpi.Complete, mpi);
    }

    /// <summary>The commands that run data-parallel under <c>mpiexec -n N</c>; every other one refuses to (<see cref="Refusal"/>).</summary>
    public static readonly IReadOnlyList<string> DataParallelCommands = ["train unet", "train vae", "train text-encoder"];

    /// <summary>
    /// The one-line error of a command that does not run data-parallel when <c>mpiexec -n N</c> (N &gt; 1) started it:
    /// N copies would each do the whole work and race on one output (a folder, a file, a port); null otherwise. Reads the
    /// environment only (no MPI is loaded).
    /// </summary>
    /// <param name="command">The command's path without "latent", e.g. "train judge" or "txt2img".</param>
    public static string? Refusal(string command)
    {
        (int Rank, int Size)? launch;
        try
        {
            launch = MpiLaunch.Detect();
        }
        catch (Exception e) when (e is NotSupportedException or FormatException)
        {
            return null;   // Open MPI or a broken launch: the data-parallel trainers report it; other commands run as before
        }
        if (launch is not { Size: > 1 } l || DataParallelCommands.Contains(command) || command.Length == 0) return null;
        return $"error: rank {l.Rank} of {l.Size}: {command} does not run data-parallel (only {string.Join(", ", DataParallelCommands)} do); " +
               $"mpiexec started it as {l.Size} processes, which would each run it whole and race on one output. Run it without mpiexec " +
               "(docs/training/distributed.md)";
    }

    /// <summary>One line for rank 0's output: how the global batch is shared.</summary>
    public string Describe(int batchSize) =>
        $"data-parallel over {Parallel.Size} processes (MPI): each takes {batchSize / Parallel.Size}" +
        (batchSize % Parallel.Size == 0 ? "" : $" or {batchSize / Parallel.Size + 1}") + $" of the global batch of {batchSize}";

    /// <summary>Marks the run as finished well (MPI is then finalised on <see cref="Dispose"/>).</summary>
    public void Complete() => complete();

    /// <summary>Ends MPI (see <see cref="MpiDataParallel.Dispose"/>) and gives stdout back.</summary>
    public void Dispose()
    {
        owner?.Dispose();
        if (silencedOut is not null) Console.SetOut(silencedOut);
    }
}
