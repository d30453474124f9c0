using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;

namespace Latent.Cli.Data;

/// <summary>An npm package tarball, fetched once with <c>npm pack NAME@VERSION</c> and cached, then read without unpacking.</summary>
/// <param name="Name">The package name, e.g. "openmoji".</param>
/// <param name="Version">The exact version, e.g. "17.0.0".</param>
public sealed record NpmPackage(string Name, string Version)
{
    /// <summary>The tarball's file name, as <c>npm pack</c> writes it.</summary>
    public string TarballName => $"{Name.TrimStart('@').Replace('/', '-')}-{Version}.tgz";

    /// <summary>"NAME@VERSION".</summary>
    public override string ToString() => $"{Name}@{Version}";

    /// <summary>The cached tarball in <paramref name="cacheDir"/>, downloaded with <c>npm pack</c> when missing.</summary>
    /// <returns>The tarball's path and whether it was downloaded now (false: it was cached).</returns>
    /// <exception cref="IOException">npm is missing or <c>npm pack</c> failed (no network, unknown version); the message
    /// holds npm's own error.</exception>
    public (string Path, bool Downloaded) Fetch(string cacheDir)
    {
        Directory.CreateDirectory(cacheDir);
        string target = Path.Combine(cacheDir, TarballName);
        if (File.Exists(target)) return (target, false);

        // npm writes into a private folder first; the rename makes a half-downloaded tarball impossible.
        string staging = Path.Combine(cacheDir, $".pack-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            var start = new ProcessStartInfo("npm") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = staging };
            foreach (string a in new[] { "pack", ToString(), "--silent", "--pack-destination", staging }) start.ArgumentList.Add(a);
            Process process;
            try { process = Process.Start(start) ?? throw new IOException("npm did not start"); }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new IOException($"cannot run npm to fetch {this} ({e.Message}); install Node.js/npm or put {TarballName} in {cacheDir}", e);
            }
            using (process)
            {
                Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
                process.WaitForExit();
                string packed = Path.Combine(staging, TarballName);
                if (process.ExitCode != 0 || !File.Exists(packed))
                    throw new IOException($"npm pack {this} failed (exit code {process.ExitCode}): {Tail(stderr.Result + stdout.Result)}");
                File.Move(packed, target, overwrite: true);
            }
            return (target, true);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Reads the files of a package tarball whose paths (without the leading <c>package/</c>) pass <paramref name="wanted"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a gzipped tar archive.</exception>
    public static Dictionary<string, byte[]> ReadFiles(string tarball, Func<string, bool> wanted)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        try
        {
            using var gzip = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress);
            using var reader = new TarReader(gzip);
            while (reader.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
                // npm packs everything under one top folder, usually "package/".
                int slash = entry.Name.IndexOf('/');
                string path = slash < 0 ? entry.Name : entry.Name[(slash + 1)..];
                if (!wanted(path)) continue;
                using var buffer = new MemoryStream();
                entry.DataStream.CopyTo(buffer);
                files[path] = buffer.ToArray();
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new InvalidDataException($"'{tarball}' is not a readable npm tarball (.tgz): {e.Message}; delete it to fetch it again", e);
        }
        return files;
    }

    static string Tail(string s)
    {
        s = s.Trim();
        return s.Length <= 600 ? s : "..." + s[^600..];
    }
}
