using System.Security.Cryptography;
using System.Text;
using Latent.Core.IO;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.Ort;

/// <summary>
/// ONNX Runtime's optimised models kept on disk, so that the next run skips our export and ONNX Runtime's graph
/// optimisation: one file per part, named by a SHA-256 of everything the optimised graph depends on.
/// </summary>
/// <remarks>
/// <para>The key (<see cref="Key"/>) covers the part's name and export format, every weight's name, dtype, shape and
/// bytes (so a LoRA, a fine-tune or a trainer's step gives another file), the ONNX Runtime version, and this CPU's model
/// and feature flags: a model optimised at level "all" holds blocked-layout (NCHWc) kernels chosen for this CPU, which
/// ONNX Runtime documents as valid only on the hardware that optimised it.</para>
/// <para>A miss exports the model, lets ONNX Runtime write its optimised form to a temporary file in the cache folder
/// (<c>SessionOptions.OptimizedModelFilePath</c>) while it builds the session, and renames that file into place, so a
/// reader sees a complete file or none (concurrent runs each write their own and the last rename wins; both are
/// valid). A hit opens the file with optimisation off. A file ONNX Runtime cannot read is deleted and rebuilt. The
/// folder keeps the <see cref="MaxEntries"/> most recently used files. A folder that cannot be written only costs the
/// caching: the session is built from the export as without a cache.</para>
/// </remarks>
public sealed class OnnxModelCache
{
    /// <summary>Files kept; older ones are deleted when a new one is written (a shipped-size U-Net's is about 90 MB).</summary>
    public const int MaxEntries = 24;

    /// <summary>Bump when what the export writes changes in a way the weights do not show.</summary>
    const string FormatVersion = "latent-onnx-3";

    /// <summary>Uses <paramref name="directory"/> (created on the first write).</summary>
    /// <param name="directory">The folder.</param>
    public OnnxModelCache(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>
    /// The default folder: <c>$LATENT_CACHE_DIR/onnx</c>, else <c>$XDG_CACHE_HOME/latent/onnx</c>, else
    /// <c>~/.cache/latent/onnx</c> (the XDG base-directory rule); null when no home folder is known.
    /// </summary>
    public static string? DefaultDirectory()
    {
        string? own = Environment.GetEnvironmentVariable("LATENT_CACHE_DIR");
        if (!string.IsNullOrEmpty(own)) return Path.Combine(own, "onnx");
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "latent", "onnx");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cache", "latent", "onnx");
    }

    /// <summary>A SHA-256 of every weight's name, dtype, shape and bytes, in state-dict order (the weights part of a <see cref="Key"/>).</summary>
    /// <param name="modules">The modules whose weights a graph holds.</param>
    /// <returns>64 hex digits.</returns>
    public static string WeightsHash(params nn.Module[] modules)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (nn.Module module in modules)
            foreach (var (name, t) in module.state_dict())
            {
                hash.AppendData(Encoding.UTF8.GetBytes($"{name}|{t.dtype}|{string.Join(',', t.shape)}\n"));
                using var scope = NewDisposeScope();
                hash.AppendData(t.detach().cpu().contiguous().bytes);
            }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>A SHA-256 of files' names (not their folders), lengths and bytes, streamed (e.g. a component's config and
    /// weights file): what a folder's part is, known without building its module.</summary>
    /// <param name="paths">The files, in a fixed order.</param>
    /// <returns>64 hex digits.</returns>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    public static string FilesHash(params string[] paths)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string path in paths)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20, FileOptions.SequentialScan);
            hash.AppendData(Encoding.UTF8.GetBytes($"{Path.GetFileName(path)}|{file.Length}\n"));
            byte[] buffer = new byte[1 << 20];
            for (int n; (n = file.Read(buffer)) > 0;) hash.AppendData(buffer, 0, n);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// The <see cref="WeightsHash"/> an earlier load computed for files of this <see cref="FilesHash"/> (kept in the
    /// folder's <c>weights/</c>), so a warm start names its cached graphs without building the module; null when unknown.
    /// </summary>
    /// <param name="filesHash">From <see cref="FilesHash"/>.</param>
    public string? RememberedWeightsHash(string filesHash)
    {
        try
        {
            string path = RememberPath(filesHash);
            if (!File.Exists(path)) return null;
            string text = File.ReadAllText(path).Trim();
            return text.Length == 64 && text.All(char.IsAsciiHexDigitLower) ? text : null;   // damaged: computed again
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Remembers <paramref name="weightsHash"/> for files of <paramref name="filesHash"/> (atomically; a folder that
    /// cannot be written only costs building the module next time).</summary>
    /// <param name="filesHash">From <see cref="FilesHash"/>.</param>
    /// <param name="weightsHash">From <see cref="WeightsHash"/> on the module those files give.</param>
    public void RememberWeightsHash(string filesHash, string weightsHash)
    {
        try
        {
            AtomicFile.WriteAllText(RememberPath(filesHash), weightsHash);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    string RememberPath(string filesHash) => Path.Combine(Directory, "weights", $"{filesHash}.txt");

    /// <summary>The cache key of a part: SHA-256 over the format, the part's name, its weights' hash, ONNX Runtime's version and this CPU.</summary>
    /// <param name="part">What the graph is, e.g. "unet" or "text_encoder" (with any export option that changes it).</param>
    /// <param name="weightsHash">From <see cref="WeightsHash"/>.</param>
    /// <returns>64 hex digits.</returns>
    public static string Key(string part, string weightsHash) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join("\n", FormatVersion, part, weightsHash, OrtSessions.Version, CpuIdentity.Value))));

    /// <summary>Opens a session on the cached optimised model of <paramref name="key"/>, or exports, optimises and caches it.</summary>
    /// <param name="key">From <see cref="Key"/>.</param>
    /// <param name="export">Writes the model (called only on a miss).</param>
    /// <returns>The session, and whether it came from the cache.</returns>
    public (InferenceSession Session, bool Hit) Open(string key, Func<byte[]> export)
    {
        ArgumentNullException.ThrowIfNull(export);
        string path = Path.Combine(Directory, $"{key}.onnx");
        if (File.Exists(path))
        {
            try
            {
                using var options = OrtSessions.Options(optimize: false);
                var session = new InferenceSession(path, options);
                TryTouch(path);
                return (session, true);
            }
            catch (OnnxRuntimeException)
            {
                TryDelete(path);   // unreadable (another ONNX Runtime's format, a damaged disk): rebuild it below
            }
        }
        byte[] model = export();
        string temp = Path.Combine(Directory, $".{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using var options = OrtSessions.Options();
            options.OptimizedModelFilePath = temp;
            var session = new InferenceSession(model, options);
            if (File.Exists(temp)) File.Move(temp, path, overwrite: true);
            Prune();
            return (session, false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OnnxRuntimeException && !File.Exists(temp))
        {
            // The folder cannot be written (read-only home, a file in its place): run without caching. A model ONNX
            // Runtime cannot load fails here again with its own message.
            using var options = OrtSessions.Options();
            return (new InferenceSession(model, options), false);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    void Prune()
    {
        var files = new DirectoryInfo(Directory).GetFiles("*.onnx").OrderByDescending(f => f.LastWriteTimeUtc).Skip(MaxEntries);
        foreach (FileInfo f in files) TryDelete(f.FullName);
    }

    static void TryTouch(string path)
    {
        try { File.SetLastWriteTimeUtc(path, DateTime.UtcNow); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>This CPU's model name and feature flags (Linux's /proc/cpuinfo), else the architecture and core count.</summary>
    internal static readonly Lazy<string> CpuIdentity = new(() =>
    {
        try
        {
            var lines = File.ReadLines("/proc/cpuinfo").TakeWhile(l => l.Trim().Length > 0)
                .Where(l => l.StartsWith("model name", StringComparison.Ordinal) || l.StartsWith("flags", StringComparison.Ordinal)
                            || l.StartsWith("Features", StringComparison.Ordinal) || l.StartsWith("CPU part", StringComparison.Ordinal));
            string text = string.Join("\n", lines);
            if (text.Length > 0) return text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture} {Environment.ProcessorCount}";
    });
}
