using System.Runtime.InteropServices;

namespace Latent.Core.IO;

/// <summary>
/// Drops pages of a read-only file mapping from the process's resident memory once their bytes have been copied out.
/// </summary>
/// <remarks>
/// Why: a memory-mapped weights file keeps every page it touched resident (counted in RSS) until the mapping closes, so
/// copying a 4.3 GB SD 1.5-sized file into the model's tensors peaked at twice the weights (8.6 GB measured with
/// bench/single_file_memory.sh). After each tensor is copied, <c>madvise(MADV_DONTNEED)</c> on its pages releases them:
/// for a clean, read-only, file-backed mapping this only unmaps them from this process (the kernel's page cache may keep
/// them, outside our RSS), and a later read faults them in again from the file, unchanged. Linux only; elsewhere a no-op.
/// .NET has no API for it, hence the one P/Invoke.
/// </remarks>
internal static unsafe partial class MappedPages
{
    const int MadvDontNeed = 4; // <sys/mman.h> on Linux

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);

    /// <summary>Releases the pages that hold [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>)
    /// of a read-only mapping (whole pages, so neighbours' bytes may fault in again later; they stay correct).</summary>
    /// <returns>Whether the kernel accepted it (false elsewhere than Linux or on an error: nothing is lost, memory stays).</returns>
    public static bool Release(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return false;
        long page = Environment.SystemPageSize;
        long first = (long)start / page * page;
        long end = ((long)start + length + page - 1) / page * page;
        return Madvise((nint)first, (nuint)(end - first), MadvDontNeed) == 0;
    }
}
