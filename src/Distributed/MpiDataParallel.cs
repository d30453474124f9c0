using System.Diagnostics;
using Latent.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Distributed;

/// <summary>
/// <see cref="IDataParallel"/> over MPI (MPI.NET on MPICH): the processes started by <c>mpiexec -n N</c> are the ranks of
/// MPI_COMM_WORLD; sums and broadcasts are MPI_Allreduce (in place, float32) and MPI_Bcast on the tensors' memory, each
/// guarded by a <see cref="CollectiveWatchdog"/> that ends the whole run (MPI_Abort) when a call outlasts the timeout.
/// </summary>
/// <remarks>MPI is initialised with MPI_THREAD_MULTIPLE, as the watchdog calls MPI_Abort from its own thread while the
/// training thread is blocked in a collective. Call <see cref="Complete"/> after a successful run: <see cref="Dispose"/>
/// then finalises MPI; without it (an exception is on its way out) the process leaves without MPI_Finalize, which
/// would wait for ranks that are still blocked, and <c>mpiexec</c> ends the others when it sees the exit code.</remarks>
public sealed unsafe class MpiDataParallel : IDataParallel, IDisposable
{
    // MPI_IN_PLACE: ((void*)-1) in MPICH's mpi.h (and MS-MPI's); MPI.NET does not define it.
    static readonly IntPtr InPlace = new(-1);

    readonly MPI.Environment environment;
    readonly CollectiveWatchdog watchdog;
    readonly TimeSpan timeout;
    long collectiveTicks;
    bool completed;

    MpiDataParallel(MPI.Environment environment, TimeSpan timeout)
    {
        this.environment = environment;
        this.timeout = timeout;
        Rank = MPI.Communicator.world.Rank;
        Size = MPI.Communicator.world.Size;
        watchdog = new CollectiveWatchdog($"rank {Rank} of {Size}: ", message =>
        {
            Console.Error.WriteLine($"error: {message}");
            Console.Error.Flush();
            MPI.Unsafe.MPI_Abort(MPI.Unsafe.MPI_COMM_WORLD, 4);
        }, TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Initialises MPI (MPICH through <see cref="MpichLibrary"/>) in a process started by <c>mpiexec</c>.</summary>
    /// <param name="timeout">The longest a collective call may wait for the other ranks.</param>
    /// <exception cref="DllNotFoundException">MPICH is not installed.</exception>
    /// <exception cref="NotSupportedException">The MPI library cannot call MPI from two threads.</exception>
    public static MpiDataParallel Start(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "expected a positive timeout");
        MpichLibrary.Install();
        string[] args = [];
        var environment = new MPI.Environment(ref args, MPI.Threading.Multiple);
        if (MPI.Environment.Threading != MPI.Threading.Multiple)
        {
            environment.Dispose();
            throw new NotSupportedException($"the MPI library gave thread level {MPI.Environment.Threading}; expected Multiple (the collective watchdog aborts from its own thread)");
        }
        return new MpiDataParallel(environment, timeout);
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public TimeSpan CollectiveTime => TimeSpan.FromTicks(Interlocked.Read(ref collectiveTicks));

    /// <inheritdoc />
    public void AllReduceSum(Tensor buffer, string what)
    {
        var bytes = Check(buffer);
        fixed (byte* p = bytes)
        {
            IntPtr data = (IntPtr)p;
            int count = bytes.Length / sizeof(float);
            Timed(what, timeout, () => MPI.Unsafe.MPI_Allreduce(InPlace, data, count, MPI.Unsafe.MPI_FLOAT, MPI.Unsafe.MPI_SUM, MPI.Unsafe.MPI_COMM_WORLD), "MPI_Allreduce");
        }
    }

    /// <inheritdoc />
    /// <remarks>MPI_Allgatherv of float32 values: rank r sends its count_r · W values (W the values per row) into
    /// offset start_r · W of everyone's [B · W] buffer; shares of B / N and B / N + 1 rows need the "v" form.</remarks>
    public Tensor AllGatherRows(Tensor rows, int batchSize, string what)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var mine = BatchShare.Of(batchSize, Rank, Size);
        if (rows.dim() < 1 || rows.shape[0] != mine.Count)
            throw new ArgumentException($"rank {Rank} of {Size} holds {mine.Count} of the {batchSize} rows; got [{string.Join(", ", rows.shape)}]", nameof(rows));
        long width = rows.numel() / Math.Max(1, rows.shape[0]);
        if (batchSize * width * sizeof(float) > int.MaxValue)
            throw new ArgumentException($"a gathered batch of {batchSize} x {width} floats is too large for one MPI call", nameof(rows));
        var counts = new int[Size];
        var offsets = new int[Size];
        for (int r = 0; r < Size; r++)
        {
            var share = BatchShare.Of(batchSize, r, Size);
            counts[r] = checked((int)(share.Count * width));
            offsets[r] = checked((int)(share.Start * width));
        }
        using var local = rows.detach().to(ScalarType.Float32).contiguous();
        var all = empty([batchSize, .. rows.shape.Skip(1)], dtype: ScalarType.Float32);
        var send = Check(local);
        var receive = Check(all);
        fixed (byte* s = send)
        fixed (byte* d = receive)
        {
            IntPtr sendData = (IntPtr)s, receiveData = (IntPtr)d;
            int count = counts[Rank];
            Timed(what, timeout, () => MPI.Unsafe.MPI_Allgatherv(sendData, count, MPI.Unsafe.MPI_FLOAT, receiveData, counts, offsets,
                MPI.Unsafe.MPI_FLOAT, MPI.Unsafe.MPI_COMM_WORLD), "MPI_Allgatherv");
        }
        return all;
    }

    /// <inheritdoc />
    public void Broadcast(Tensor buffer, string what)
    {
        var bytes = Check(buffer);
        fixed (byte* p = bytes)
        {
            IntPtr data = (IntPtr)p;
            int count = bytes.Length / sizeof(float);
            Timed(what, timeout, () => MPI.Unsafe.MPI_Bcast(data, count, MPI.Unsafe.MPI_FLOAT, 0, MPI.Unsafe.MPI_COMM_WORLD), "MPI_Bcast");
        }
    }

    /// <inheritdoc />
    public void Barrier(string what, TimeSpan? timeout = null) =>
        Timed(what, timeout ?? this.timeout, () => MPI.Unsafe.MPI_Barrier(MPI.Unsafe.MPI_COMM_WORLD), "MPI_Barrier");

    /// <summary>Marks the run as finished well: <see cref="Dispose"/> then finalises MPI.</summary>
    public void Complete() => completed = true;

    void Timed(string what, TimeSpan limit, Func<int> call, string name)
    {
        int rc = 0;
        TimeSpan took = watchdog.Run(what, limit, () => rc = call());
        Interlocked.Add(ref collectiveTicks, took.Ticks);
        if (rc != 0) throw new IOException($"{name} ({what}) failed with MPI error code {rc} on rank {Rank} of {Size}");
    }

    // The tensor's memory: contiguous float32 on the CPU, at most 2^31 - 1 bytes (MPI counts are ints; buckets are 25 MiB).
    static Span<byte> Check(Tensor buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.dtype != ScalarType.Float32 || buffer.device_type != DeviceType.CPU || !buffer.is_contiguous())
            throw new ArgumentException($"expected a contiguous float32 CPU tensor; got {buffer.dtype} on {buffer.device_type}" +
                                        (buffer.is_contiguous() ? "" : ", not contiguous"), nameof(buffer));
        if (buffer.numel() * sizeof(float) > int.MaxValue)
            throw new ArgumentException($"a buffer of {buffer.numel()} floats is too large for one MPI call; expected at most {int.MaxValue / sizeof(float)}", nameof(buffer));
        return buffer.bytes;
    }

    /// <summary>Finalises MPI after <see cref="Complete"/> (guarded by the timeout); otherwise leaves it for the process exit.</summary>
    public void Dispose()
    {
        if (completed) watchdog.Run("MPI_Finalize at the end of the run", timeout, environment.Dispose);
        watchdog.Dispose();
    }
}
