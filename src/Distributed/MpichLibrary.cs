using System.Reflection;
using System.Runtime.InteropServices;

namespace Latent.Distributed;

/// <summary>
/// Points MPI.NET at Debian's MPICH. Works around: the NuGet build of MPI.NET 1.4.0 binds <c>msmpi.dll</c> (Microsoft
/// MPI, Windows only). MPICH and MS-MPI share the MPI ABI of handles as integers with the same values (MPI_COMM_WORLD
/// 0x44000000, MPI_FLOAT 0x4c00040a, MPI_SUM 0x58000003), so the same P/Invokes run on <c>libmpich.so.12</c>.
/// It can go when an MPI.NET package built for Linux (or MPI's standard ABI, MPI 5.0) is on NuGet.
/// </summary>
public static class MpichLibrary
{
    /// <summary>The MPICH shared library (Debian package libmpich12, pulled in by <c>mpich</c>).</summary>
    public const string FileName = "libmpich.so.12";

    static int installed;

    /// <summary>Maps MPI.NET's "msmpi" to <see cref="FileName"/> (once per process).</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref installed, 1) == 1) return;
        Assembly mpi = typeof(MPI.Unsafe).Assembly;
        NativeLibrary.SetDllImportResolver(mpi, (name, assembly, searchPath) =>
        {
            if (!name.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase)) return IntPtr.Zero;
            if (NativeLibrary.TryLoad(FileName, out IntPtr handle)) return handle;
            throw new DllNotFoundException($"MPICH's {FileName} was not found; install MPICH (apt-get install mpich) on every machine of the run");
        });
    }
}
