namespace Latent.Core.Training;

/// <summary>
/// The share of a global batch of B examples that rank r of N trains on: the contiguous rows [Start, Start + Count),
/// B / N each and one more for the first B mod N ranks, so the shares are disjoint, cover the batch, and keep its order.
/// </summary>
/// <remarks>Every rank draws the whole global batch (indices and random numbers) exactly as one process would, then
/// keeps its rows: the data order and the random streams stay those of a one-process run for any N, and a checkpoint
/// written with N ranks resumes with any other N.</remarks>
/// <param name="Start">The first row of the share.</param>
/// <param name="Count">The rows in the share (at least 1).</param>
public readonly record struct BatchShare(int Start, int Count)
{
    /// <summary>The share of rank <paramref name="rank"/> of <paramref name="size"/> in a batch of <paramref name="batchSize"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The batch is smaller than N (a rank would get no example), or the rank is out of range.</exception>
    public static BatchShare Of(int batchSize, int rank, int size)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "expected at least 1 process");
        if (rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"expected a rank in [0, {size})");
        if (batchSize < size)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize,
                $"a batch of {batchSize} cannot be shared by {size} processes; expected a batch size of at least {size} (one example per process)");
        int q = batchSize / size, extra = batchSize % size;
        return new BatchShare(rank * q + Math.Min(rank, extra), q + (rank < extra ? 1 : 0));
    }

    /// <summary>The share of <paramref name="parallel"/>'s rank.</summary>
    public static BatchShare Of(int batchSize, IDataParallel parallel)
    {
        ArgumentNullException.ThrowIfNull(parallel);
        return Of(batchSize, parallel.Rank, parallel.Size);
    }

    /// <summary>Whether the share is the whole batch (one process).</summary>
    public bool IsWhole(int batchSize) => Start == 0 && Count == batchSize;
}
