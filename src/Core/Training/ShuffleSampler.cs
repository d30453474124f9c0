namespace Latent.Core.Training;

/// <summary>Where a <see cref="ShuffleSampler"/> stands; everything a checkpoint needs to resume the data order.</summary>
/// <param name="DatasetSize">N, the number of examples.</param>
/// <param name="Seed">The run's data seed.</param>
/// <param name="Epoch">The current epoch (0-based).</param>
/// <param name="Position">The next position within the epoch's permutation, in [0, N).</param>
public sealed record SamplerState(int DatasetSize, ulong Seed, long Epoch, int Position);

/// <summary>
/// A seeded shuffling sampler: every epoch visits each example once, in an order that is a pure function of
/// (seed, epoch), so (seed, epoch, position) pins down every later index and a resumed run sees the same batches.
/// </summary>
/// <remarks>
/// The permutation of an epoch is a Fisher-Yates shuffle driven by SplitMix64 seeded with a mix of the seed and the
/// epoch, with unbiased (rejection-sampled) draws. It uses no torch generator, so it is the same on every platform and
/// torch version, and it draws nothing from the generators the model uses. Batches run across epoch boundaries (no
/// example is dropped or repeated within an epoch).
/// </remarks>
public sealed class ShuffleSampler
{
    int[] order;

    /// <summary>Starts at epoch 0, position 0.</summary>
    /// <param name="datasetSize">N, the number of examples; must be positive.</param>
    /// <param name="seed">The data seed.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="datasetSize"/> is not positive.</exception>
    public ShuffleSampler(int datasetSize, ulong seed)
    {
        if (datasetSize <= 0) throw new ArgumentOutOfRangeException(nameof(datasetSize), datasetSize, "must be positive");
        DatasetSize = datasetSize;
        Seed = seed;
        order = Permutation(datasetSize, seed, 0);
    }

    /// <summary>N, the number of examples.</summary>
    public int DatasetSize { get; }

    /// <summary>The data seed.</summary>
    public ulong Seed { get; }

    /// <summary>The current epoch (0-based).</summary>
    public long Epoch { get; private set; }

    /// <summary>The next position within the current epoch.</summary>
    public int Position { get; private set; }

    /// <summary>The state to save.</summary>
    public SamplerState State => new(DatasetSize, Seed, Epoch, Position);

    /// <summary>Jumps to a saved state.</summary>
    /// <exception cref="InvalidDataException">The state belongs to another data set size or seed, or is out of range.</exception>
    public void Restore(SamplerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.DatasetSize != DatasetSize)
            throw new InvalidDataException($"sampler state is for {state.DatasetSize} examples, this data set has {DatasetSize}");
        if (state.Seed != Seed) throw new InvalidDataException($"sampler state has seed {state.Seed}, this sampler {Seed}");
        if (state.Epoch < 0 || state.Position < 0 || state.Position >= DatasetSize)
            throw new InvalidDataException($"sampler state epoch {state.Epoch}, position {state.Position} is out of range for {DatasetSize} examples");
        if (state.Epoch != Epoch) order = Permutation(DatasetSize, Seed, state.Epoch);
        Epoch = state.Epoch;
        Position = state.Position;
    }

    /// <summary>The next example index, moving to the next epoch's permutation at the end of one.</summary>
    public int Next()
    {
        int index = order[Position++];
        if (Position == DatasetSize)
        {
            Epoch++;
            Position = 0;
            order = Permutation(DatasetSize, Seed, Epoch);
        }
        return index;
    }

    /// <summary>The next <paramref name="batchSize"/> example indices.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is not positive.</exception>
    public int[] NextBatch(int batchSize)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be positive");
        var batch = new int[batchSize];
        for (int i = 0; i < batchSize; i++) batch[i] = Next();
        return batch;
    }

    /// <summary>The permutation of [0, n) for one epoch: a pure function of (n, seed, epoch).</summary>
    public static int[] Permutation(int n, ulong seed, long epoch)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        ulong state = Mix(seed ^ Mix(0x9E3779B97F4A7C15UL + (ulong)epoch));
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)Below(ref state, (ulong)i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    /// <summary>A uniform draw from [0, bound), rejecting the biased top of the 64-bit range.</summary>
    static ulong Below(ref ulong state, ulong bound)
    {
        ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong x;
        do x = NextU64(ref state); while (x >= limit);
        return x % bound;
    }

    static ulong NextU64(ref ulong state) => Mix(state += 0x9E3779B97F4A7C15UL);

    /// <summary>SplitMix64's finaliser.</summary>
    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
