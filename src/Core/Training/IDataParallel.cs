using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>
/// The one place where a trainer meets data-parallel training: the collective operations between the N processes
/// ("ranks") that each hold the whole model and train on a disjoint share of every global batch. A trainer asks for its
/// share (<see cref="BatchShare"/>), sums the gradients of all ranks (<see cref="GradientAllReduce"/>) and lets rank 0
/// alone write files. <see cref="SingleProcess"/> is the one-process case (every call a no-op); the MPI implementation
/// lives in <c>Latent.Distributed</c>, which only the CLI references, so nothing here loads MPI.
/// </summary>
/// <remarks>Every rank must make the same collective calls in the same order with buffers of the same size; a rank
/// that does not (it died, or hangs) ends the run instead of blocking the others for ever (the MPI implementation
/// times out).</remarks>
public interface IDataParallel
{
    /// <summary>This process's index in [0, <see cref="Size"/>); rank 0 writes logs, samples, checkpoints and exports.</summary>
    int Rank { get; }

    /// <summary>N, the number of processes (1 without <c>mpiexec</c>).</summary>
    int Size { get; }

    /// <summary>
    /// Replaces <paramref name="buffer"/> on every rank by the element-wise sum of all ranks' buffers, in place.
    /// </summary>
    /// <param name="buffer">A contiguous float32 CPU tensor, the same length on every rank.</param>
    /// <param name="what">What is being summed, for the error of a timed-out call (e.g. "gradients of step 12").</param>
    void AllReduceSum(Tensor buffer, string what);

    /// <summary>
    /// Joins every rank's share of a global batch into the whole batch, on every rank: rank r's <paramref name="rows"/>
    /// become rows [start, start + count) of the result, where (start, count) is <see cref="BatchShare.Of(int, int, int)"/>
    /// of r. The result is a plain tensor (no gradient flows back through it).
    /// </summary>
    /// <param name="rows">This rank's share: [count, ...] float32 on the CPU, the same trailing shape on every rank.</param>
    /// <param name="batchSize">B, the global batch the shares were cut from.</param>
    /// <param name="what">What is gathered, for the error of a timed-out call (e.g. "embeddings of step 12").</param>
    /// <returns>[B, ...] float32, the same on every rank.</returns>
    Tensor AllGatherRows(Tensor rows, int batchSize, string what);

    /// <summary>Overwrites <paramref name="buffer"/> on every rank with rank 0's, in place.</summary>
    /// <param name="buffer">A contiguous float32 CPU tensor, the same length on every rank.</param>
    /// <param name="what">What is being sent, for the error of a timed-out call.</param>
    void Broadcast(Tensor buffer, string what);

    /// <summary>Waits until every rank has called it.</summary>
    /// <param name="what">What the ranks wait for, for the error of a timed-out call.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for a wait on work of unknown
    /// length (rank 0 encoding the latent cache); null: the implementation's timeout for collective calls.</param>
    void Barrier(string what, TimeSpan? timeout = null);

    /// <summary>Time spent inside collective calls so far (waiting for slower ranks included).</summary>
    TimeSpan CollectiveTime { get; }
}

/// <summary>One process, no <c>mpiexec</c>: rank 0 of 1, and every collective call returns at once.</summary>
public sealed class SingleProcess : IDataParallel
{
    /// <summary>The one instance.</summary>
    public static SingleProcess Instance { get; } = new();

    SingleProcess() { }

    /// <inheritdoc />
    public int Rank => 0;

    /// <inheritdoc />
    public int Size => 1;

    /// <inheritdoc />
    public void AllReduceSum(Tensor buffer, string what) { }

    /// <inheritdoc />
    /// <remarks>The one share is the whole batch: a detached copy of <paramref name="rows"/>.</remarks>
    public Tensor AllGatherRows(Tensor rows, int batchSize, string what)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.dim() < 1 || rows.shape[0] != batchSize)
            throw new ArgumentException($"one process's share is the whole batch of {batchSize} rows; got [{string.Join(", ", rows.shape)}]", nameof(rows));
        return rows.detach().clone();
    }

    /// <inheritdoc />
    public void Broadcast(Tensor buffer, string what) { }

    /// <inheritdoc />
    public void Barrier(string what, TimeSpan? timeout = null) { }

    /// <inheritdoc />
    public TimeSpan CollectiveTime => TimeSpan.Zero;
}
