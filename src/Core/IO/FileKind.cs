using System.Runtime.InteropServices;

namespace Latent.Core.IO;

/// <summary>What a path is on disk: a regular file, a directory, or one of the special files that must never be read
/// as data or replaced by a write (a FIFO blocks a reader forever; a device replaced by a rename becomes a plain file).</summary>
public enum FileKindValue
{
    /// <summary>Nothing at the path (or a dangling symlink when links are followed).</summary>
    Missing,

    /// <summary>A regular file.</summary>
    RegularFile,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A symbolic link (only reported when links are not followed).</summary>
    SymbolicLink,

    /// <summary>A named pipe (FIFO): opening it for reading blocks until a writer appears.</summary>
    Fifo,

    /// <summary>A character device such as <c>/dev/null</c> or <c>/dev/zero</c>.</summary>
    CharacterDevice,

    /// <summary>A block device such as a disk.</summary>
    BlockDevice,

    /// <summary>A Unix domain socket.</summary>
    Socket,
}

/// <summary>Tells regular files from special ones before anything opens them, and refuses the special ones.</summary>
/// <remarks>
/// .NET has no public API for a file's type (its <c>FileAttributes</c> on Unix say only directory, symlink, read-only,
/// hidden), and <c>new FileStream(fifo)</c> blocks in <c>open(2)</c> before any check could run. So on Linux this asks
/// the kernel with <c>statx(2)</c>, whose <c>struct statx</c> has one layout on every architecture (unlike
/// <c>struct stat</c>); one P/Invoke is a smaller dependency than Mono.Unix (a native library and a 2021 package) for
/// one system call. On other systems every existing non-directory counts as a regular file (Windows has no FIFOs or
/// device nodes in the file system namespace).
/// </remarks>
public static partial class FileKind
{
    const int AtFdCwd = -100;
    const int AtSymlinkNoFollow = 0x100;
    const uint StatxType = 0x1;
    const int StatxModeOffset = 28; // u32 mask, u32 blksize, u64 attributes, u32 nlink, u32 uid, u32 gid, then u16 mode
    const int StatxSize = 256;

    /// <summary>What <paramref name="path"/> is; <paramref name="followLinks"/> false reports a symlink itself.</summary>
    /// <exception cref="IOException">The kernel could not tell (for instance no permission to search a folder on the way).</exception>
    public static FileKindValue Of(string path, bool followLinks = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!OperatingSystem.IsLinux())
        {
            var info = new FileInfo(path);
            if (!followLinks && info.LinkTarget is not null) return FileKindValue.SymbolicLink;
            if (System.IO.Directory.Exists(path)) return FileKindValue.Directory;
            return File.Exists(path) ? FileKindValue.RegularFile : FileKindValue.Missing;
        }
        Span<byte> buffer = stackalloc byte[StatxSize];
        int rc = Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, ref MemoryMarshal.GetReference(buffer));
        if (rc != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) return FileKindValue.Missing; // ENOENT, ENOTDIR
            throw new IOException($"cannot inspect '{path}': {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        int mode = BitConverter.ToUInt16(buffer.Slice(StatxModeOffset, 2)) & 0xF000; // S_IFMT
        return mode switch
        {
            0x8000 => FileKindValue.RegularFile,
            0x4000 => FileKindValue.Directory,
            0xA000 => FileKindValue.SymbolicLink,
            0x1000 => FileKindValue.Fifo,
            0x2000 => FileKindValue.CharacterDevice,
            0x6000 => FileKindValue.BlockDevice,
            0xC000 => FileKindValue.Socket,
            _ => throw new IOException($"cannot inspect '{path}': unknown file type 0x{mode:X4}"),
        };
    }

    /// <summary>Words for a kind, for messages: "a FIFO (named pipe)".</summary>
    public static string Describe(FileKindValue kind) => kind switch
    {
        FileKindValue.Missing => "missing",
        FileKindValue.RegularFile => "a regular file",
        FileKindValue.Directory => "a directory",
        FileKindValue.SymbolicLink => "a symbolic link",
        FileKindValue.Fifo => "a FIFO (named pipe)",
        FileKindValue.CharacterDevice => "a character device",
        FileKindValue.BlockDevice => "a block device",
        FileKindValue.Socket => "a socket",
        _ => kind.ToString(),
    };

    /// <summary>
    /// Throws unless <paramref name="path"/> is missing or (after following links) a regular file; call it before opening
    /// a file to read, so that a FIFO or a device is refused instead of blocking or being read without end.
    /// A missing file passes, so the caller's own "not found" message stays.
    /// </summary>
    /// <param name="path">The file about to be read.</param>
    /// <param name="what">What the file is for, for the message ("weights file", "image").</param>
    /// <exception cref="IOException">The path is a directory, FIFO, device or socket; the message names the path and what it is.</exception>
    public static void RequireRegularForRead(string path, string what)
    {
        FileKindValue kind = Of(path);
        if (kind is FileKindValue.Missing or FileKindValue.RegularFile) return;
        throw new IOException($"{what} '{path}' is {Describe(kind)}, not a regular file; refusing to read it");
    }

    /// <summary>
    /// The canonical absolute path of an existing <paramref name="path"/>, every symlink on the way resolved (POSIX
    /// <c>realpath(3)</c>; .NET resolves only a path's last component), or null when it does not exist. Elsewhere than
    /// Linux: the full path with only the last component's links resolved.
    /// </summary>
    public static string? RealPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!OperatingSystem.IsLinux())
        {
            if (!Path.Exists(path)) return null;
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
        }
        IntPtr resolved = RealPathNative(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(resolved); }
        finally { Free(resolved); }
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPathNative(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(IntPtr pointer);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buffer);
}
