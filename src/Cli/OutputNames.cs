using System.Globalization;

namespace Latent.Cli;

/// <summary>Numbered output names in a folder (<c>00000-SEED.png</c>), claimed atomically.</summary>
internal static class OutputNames
{
    /// <summary>
    /// AUTOMATIC1111's naming: <c>00000-SEED.png</c>, the next number not yet used in the folder, claimed so that
    /// concurrent runs into one folder never share a number or overwrite each other's images.
    /// </summary>
    /// <remarks>
    /// The name is created empty with <see cref="FileMode.CreateNew"/> (atomic: of two creators of one name, one fails),
    /// and the PNG later replaces that placeholder atomically. Names of one number can differ (another seed), so after its
    /// own create a run keeps the number only when no other file holds it, so at most one run ever keeps a number (the
    /// later of two creates always sees the earlier). Two runs that see each other both give the number up and try
    /// again after a random pause of a few milliseconds, so they fall out of step.
    /// </remarks>
    /// <exception cref="IOException">No number could be claimed after many tries (the folder is full or contended without end).</exception>
    internal static string NextFree(string folder, string suffix)
    {
        Directory.CreateDirectory(folder);
        for (int attempt = 0; attempt < MaxClaimAttempts; attempt++)
        {
            int next = NextNumber(folder);
            string path = Path.Combine(folder, $"{next:D5}-{suffix}.png");
            try
            {
                new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None).Dispose();
            }
            catch (IOException) when (File.Exists(path) || Directory.Exists(path))
            {
                Thread.Sleep(Random.Shared.Next(1, 5));
                continue; // taken by another run between our look and our create
            }
            if (!Directory.EnumerateFiles(folder, $"{next:D5}*.png").Any(f => f != path && NumberOf(Path.GetFileName(f)) == next))
                return path;
            File.Delete(path);
            Thread.Sleep(Random.Shared.Next(1, 5));
        }
        throw new IOException($"could not claim a free number for an image in '{Path.GetFullPath(folder)}' after {MaxClaimAttempts} tries; too many runs write there at once");
    }

    const int MaxClaimAttempts = 1000;

    static int NextNumber(string folder) => Directory.EnumerateFiles(folder, "*.png")
        .Select(f => NumberOf(Path.GetFileName(f)) + 1).DefaultIfEmpty(0).Max();

    // The number a file name starts with (its first five digits), or -1.
    static int NumberOf(string name) =>
        name.Length >= 5 && int.TryParse(name.AsSpan(0, 5), NumberStyles.None, CultureInfo.InvariantCulture, out int k) ? k : -1;
}
