using System.Globalization;
using System.Text.RegularExpressions;

namespace Latent.Core.Training;

/// <summary>
/// A run's checkpoint folder: files <c>checkpoint-000200.safetensors</c> (the step, six digits or more), the newest one
/// being the one to resume from, and only the last K kept.
/// </summary>
/// <remarks>
/// The latest checkpoint is found by the step in the file names, not by a pointer file, so there is nothing to get
/// out of step with the checkpoints; a kill during a save leaves at most a hidden temporary file (ignored here and
/// removed by <see cref="Save"/>) and the previous checkpoints intact.
/// </remarks>
public sealed partial class CheckpointDirectory
{
    /// <summary>Opens (and creates) the folder.</summary>
    /// <param name="directory">The run's checkpoint folder.</param>
    /// <param name="keepLast">How many checkpoints to keep (at least 1): older ones are deleted after each save.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="keepLast"/> is below 1.</exception>
    public CheckpointDirectory(string directory, int keepLast = 3)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (keepLast < 1) throw new ArgumentOutOfRangeException(nameof(keepLast), keepLast, "must keep at least one checkpoint");
        Directory = Path.GetFullPath(directory);
        KeepLast = keepLast;
        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>How many checkpoints are kept.</summary>
    public int KeepLast { get; }

    /// <summary>The file name for a step: <c>checkpoint-{step:D6}.safetensors</c>.</summary>
    public string PathFor(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        return Path.Combine(Directory, $"checkpoint-{step.ToString("D6", CultureInfo.InvariantCulture)}.safetensors");
    }

    /// <summary>The checkpoints present, oldest first.</summary>
    public IReadOnlyList<(long Step, string Path)> List()
    {
        var found = new List<(long, string)>();
        foreach (string file in System.IO.Directory.EnumerateFiles(Directory, "checkpoint-*.safetensors"))
        {
            var match = NamePattern().Match(Path.GetFileName(file));
            if (match.Success && long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long step))
                found.Add((step, file));
        }
        return found.OrderBy(f => f.Item1).ToList();
    }

    /// <summary>The newest checkpoint, or null when there is none (a fresh run).</summary>
    public string? Latest()
    {
        var all = List();
        return all.Count == 0 ? null : all[^1].Path;
    }

    /// <summary>
    /// The newest checkpoint whose header and metadata read, for <c>--resume</c>: a newest file cut short (a full disk, a
    /// kill during a copy) or corrupt is skipped for the older one still kept, and the reason is returned so the caller
    /// can say so. Tensor data is not read here; a checkpoint that reads but does not fit the model still fails its load.
    /// </summary>
    /// <returns>The path (null when the folder has no checkpoint) and one message per skipped checkpoint, newest first.</returns>
    /// <exception cref="InvalidDataException">There are checkpoints but none reads; the message names each and why.</exception>
    public (string? Path, IReadOnlyList<string> Skipped) LatestReadable()
    {
        var all = List();
        var skipped = new List<string>();
        for (int i = all.Count - 1; i >= 0; i--)
        {
            try
            {
                TrainingCheckpoint.ReadInfo(all[i].Path);
                return (all[i].Path, skipped);
            }
            catch (InvalidDataException e)
            {
                skipped.Add(e.Message);
            }
        }
        if (all.Count > 0)
            throw new InvalidDataException($"no checkpoint in '{Directory}' can be read: {string.Join("; ", skipped)}");
        return (null, skipped);
    }

    /// <summary>Saves a checkpoint for <paramref name="step"/>, then deletes all but the last <see cref="KeepLast"/>.</summary>
    /// <returns>The file written.</returns>
    public string Save(TrainingState state, long step, string configJson = "{}")
    {
        string path = PathFor(step);
        TrainingCheckpoint.Save(path, state, step, configJson);
        var all = List();
        foreach (var (_, old) in all.Take(Math.Max(0, all.Count - KeepLast)))
            if (old != path) File.Delete(old);   // never the file just written, even if older steps sort after it
        foreach (string temp in System.IO.Directory.EnumerateFiles(Directory, ".checkpoint-*.tmp")) TryDelete(temp);
        return path;
    }

    /// <summary>Loads the newest checkpoint into the objects; returns null (and changes nothing) when there is none.</summary>
    /// <exception cref="InvalidDataException">The newest checkpoint is corrupt or does not match (see <see cref="TrainingCheckpoint.Load"/>).</exception>
    public CheckpointInfo? LoadLatest(TrainingState state)
    {
        string? latest = Latest();
        return latest is null ? null : TrainingCheckpoint.Load(latest, state);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    [GeneratedRegex(@"^checkpoint-(\d{6,})\.safetensors$")]
    private static partial Regex NamePattern();
}
