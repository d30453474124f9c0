using System.Collections;
using System.Globalization;

namespace Latent.Distributed;

/// <summary>
/// Whether this process was started by MPICH's <c>mpiexec</c>, read from the environment only: this type touches no MPI
/// type, so asking it never loads MPI.NET or <c>libmpich</c> (a run without <c>mpiexec</c> is unchanged).
/// </summary>
/// <remarks>MPICH's Hydra launcher (Debian's <c>mpiexec</c>, <c>mpiexec.mpich</c>, <c>mpiexec.hydra</c>) gives each
/// process <c>PMI_RANK</c>, <c>PMI_SIZE</c> and <c>PMI_FD</c> (or <c>PMI_PORT</c>), checked on Debian 12 with MPICH 4.0.2.
/// Open MPI's <c>mpirun</c> sets <c>OMPI_COMM_WORLD_SIZE</c> instead; MPI.NET's handles are MPICH's (and MS-MPI's)
/// integers, not Open MPI's pointers, so that launcher is refused with a clear message rather than crashing.</remarks>
public static class MpiLaunch
{
    /// <summary>The default timeout of a collective call: 10 minutes, longer than rank 0's sample grids and checkpoints
    /// of the default U-Net, which the other ranks wait for in their next call. (Here, not on <see cref="MpiDataParallel"/>,
    /// so that reading it loads no MPI type.)</summary>
    public static readonly TimeSpan DefaultCollectiveTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The rank and size Hydra gave this process, or null when it was not started by <c>mpiexec</c>.</summary>
    /// <param name="environment">The environment variables (null: this process's).</param>
    /// <exception cref="NotSupportedException">Open MPI's launcher started the process.</exception>
    /// <exception cref="FormatException">PMI_RANK or PMI_SIZE is set but not a valid rank and size.</exception>
    public static (int Rank, int Size)? Detect(IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        string? Get(string name) => environment[name] as string;
        if (Get("OMPI_COMM_WORLD_SIZE") is not null)
            throw new NotSupportedException(
                "this process was started by Open MPI's mpirun; Latent's MPI support (MPI.NET) needs MPICH: install it (apt-get install mpich) " +
                "and launch with mpiexec.mpich");
        string? rank = Get("PMI_RANK"), size = Get("PMI_SIZE");
        if (rank is null && size is null) return null;
        if (!int.TryParse(rank, NumberStyles.None, CultureInfo.InvariantCulture, out int r) ||
            !int.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || r >= n)
            throw new FormatException($"PMI_RANK '{rank}' and PMI_SIZE '{size}' (set by mpiexec) are not a rank in [0, size); expected e.g. 0 and 2");
        return (r, n);
    }

    /// <summary>"rank R of N: " for a message of a process started by <c>mpiexec</c>, "" otherwise (never throws).</summary>
    public static string MessagePrefix()
    {
        try
        {
            return Detect() is { } launch ? $"rank {launch.Rank} of {launch.Size}: " : "";
        }
        catch (Exception e) when (e is NotSupportedException or FormatException)
        {
            return "";
        }
    }
}
