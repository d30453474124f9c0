namespace Latent.Core.IO;

/// <summary>
/// Writes files so that a reader, or a run killed half-way, sees either the old file or the complete new one: the bytes
/// go to a temporary file in the same directory, are flushed to disk, and the temporary file is renamed over the target.
/// </summary>
/// <remarks>
/// Only a regular file is ever replaced: a rename over a character device, FIFO or socket would turn it into a plain
/// file (as root, <c>--out /dev/null</c> would replace the device), so those and directories are refused with the
/// path and what it is. A symlink is written through deliberately, as <c>echo &gt; link</c> and editors do: the link
/// stays, and the file it finally points to is replaced atomically (the temporary file goes next to that file, so the
/// rename stays inside one file system); a link to a special file is refused like the file itself. The check runs just
/// before the write; a path swapped for a device in between is not caught (no portable open-and-rename-by-handle exists).
/// </remarks>
public static class AtomicFile
{
    /// <summary>The longest part of the target's name kept in the temporary file's name, so a long (but legal) target
    /// name does not make the temporary name exceed the file system's 255-byte limit.</summary>
    const int MaxNameInTemp = 64;

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/> atomically.</summary>
    /// <param name="path">The target file; its directory is created when missing. A symlink is written through.</param>
    /// <param name="write">Writes the whole content to the stream it is given (do not dispose it).</param>
    /// <exception cref="IOException">The target is not a regular file (a directory, device, FIFO, socket, or a link to
    /// one), or the write or the rename failed; the target is unchanged, the temporary file removed, and the message
    /// names the target (never the temporary file).</exception>
    public static void Write(string path, Action<Stream> write)
    {
        string full = ResolveTarget(Path.GetFullPath(path));
        string dir = Path.GetDirectoryName(full)!;
        string name = Path.GetFileName(full);
        string temp = Path.Combine(dir, $".{(name.Length > MaxNameInTemp ? name[..MaxNameInTemp] : name)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            if (!e.Message.Contains(temp, StringComparison.Ordinal)) throw;
            // The runtime's message names the temporary file, which the user never asked for: name the target instead.
            throw new IOException($"cannot write '{full}': {e.Message.Replace(temp, full, StringComparison.Ordinal)}", e);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>The file the write replaces: <paramref name="full"/>, or the final target of a symlink; refuses
    /// anything that exists and is not a regular file.</summary>
    static string ResolveTarget(string full)
    {
        string target = full;
        FileKindValue kind = FileKind.Of(full, followLinks: false);
        if (kind == FileKindValue.SymbolicLink)
        {
            target = File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
            kind = FileKind.Of(target, followLinks: false);
        }
        if (kind is FileKindValue.Missing or FileKindValue.RegularFile) return target;
        string via = target == full ? "" : $" (a symlink to '{target}')";
        throw new IOException($"refusing to write '{full}'{via}: it is {FileKind.Describe(kind)}; only a regular file is replaced");
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Writes UTF-8 <paramref name="text"/> (no byte-order mark) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, s => s.Write(System.Text.Encoding.UTF8.GetBytes(text)));

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
