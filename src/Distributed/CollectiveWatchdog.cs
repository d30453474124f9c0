using System.Diagnostics;
using System.Globalization;

namespace Latent.Distributed;

/// <summary>
/// Ends a run whose collective call does not return in time. A blocking MPI call has no timeout of its own (MPI.NET
/// 1.4.0 has no non-blocking collectives to poll), and a rank that hangs (stopped, deadlocked, a machine whose network
/// is gone) would block every other rank for ever; so each call is armed here, and a background thread that finds one
/// armed past its deadline reports it and calls the abort action (MPI_Abort, which ends every rank of the run).
/// </summary>
/// <remarks>A rank that dies (an exception, a kill) needs no watchdog: MPICH's <c>mpiexec</c> sees the exit and ends
/// the other ranks with a "BAD TERMINATION" banner naming the rank.</remarks>
public sealed class CollectiveWatchdog : IDisposable
{
    readonly string who;
    readonly Action<string> onTimeout;
    readonly TimeSpan poll;
    readonly Thread thread;
    readonly object gate = new();
    string? armedWhat;
    TimeSpan armedTimeout;
    long armedAt;
    bool disposed;

    /// <param name="who">Names this process in the message (e.g. "rank 1 of 2: ").</param>
    /// <param name="onTimeout">Called once, on the watchdog's thread, with the message of the first call that timed out.</param>
    /// <param name="poll">How often the deadline is checked.</param>
    public CollectiveWatchdog(string who, Action<string> onTimeout, TimeSpan poll)
    {
        ArgumentNullException.ThrowIfNull(who);
        ArgumentNullException.ThrowIfNull(onTimeout);
        if (poll <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(poll), poll, "expected a positive interval");
        this.who = who;
        this.onTimeout = onTimeout;
        this.poll = poll;
        thread = new Thread(Watch) { IsBackground = true, Name = "latent collective watchdog" };
        thread.Start();
    }

    /// <summary>Whether a call has timed out (the abort action was called).</summary>
    public bool Fired { get; private set; }

    /// <summary>Runs <paramref name="call"/> armed with <paramref name="timeout"/> (<see cref="Timeout.InfiniteTimeSpan"/>: unarmed).</summary>
    /// <returns>The time the call took.</returns>
    public TimeSpan Run(string what, TimeSpan timeout, Action call)
    {
        ArgumentNullException.ThrowIfNull(call);
        long start = Stopwatch.GetTimestamp();
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "expected a positive timeout");
            lock (gate) (armedWhat, armedTimeout, armedAt) = (what, timeout, start);
        }
        try
        {
            call();
        }
        finally
        {
            lock (gate) armedWhat = null;
        }
        return Stopwatch.GetElapsedTime(start);
    }

    void Watch()
    {
        while (true)
        {
            Thread.Sleep(poll);
            string? message = null;
            lock (gate)
            {
                if (disposed) return;
                if (armedWhat is not null && !Fired && Stopwatch.GetElapsedTime(armedAt) > armedTimeout)
                {
                    Fired = true;
                    message = $"{who}{armedWhat} did not complete within {armedTimeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s: " +
                              "another rank died, hangs or is that much slower; ending the run on every rank. The last checkpoint resumes it " +
                              "(--resume, with any number of processes).";
                }
            }
            if (message is not null) onTimeout(message);
        }
    }

    /// <summary>Stops the watchdog's thread.</summary>
    public void Dispose()
    {
        lock (gate) disposed = true;
    }
}
