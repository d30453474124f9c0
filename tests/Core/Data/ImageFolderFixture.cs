using Latent.Core.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Data;

/// <summary>Makes small image folders for the data tests: distinct images with a left-right gradient, so flips show.</summary>
internal static class ImageFolderFixture
{
    /// <summary>Writes <paramref name="count"/> 64x64 PNGs img{i}.png and returns the folder (no metadata.jsonl yet).</summary>
    public static string Images(int count, int size = 64)
    {
        string dir = TestEnvironment.NewTempDir();
        for (int i = 0; i < count; i++)
        {
            using var image = Image(i, size);
            ImageIO.SavePng(image, Path.Combine(dir, $"img{i}.png"));
        }
        return dir;
    }

    /// <summary>Image i: a ramp over x in channel 0, a constant per i in channels 1 and 2. [3, size, size] in [-1, 1].</summary>
    public static Tensor Image(int i, int size = 64)
    {
        using var scope = NewDisposeScope();
        var ramp = linspace(-1, 1, size).expand(size, size);           // [H, W], varies along W
        using var value = (-1 + 2.0 * i / 31).ToScalar();              // image i's constant
        var level = full(new long[] { size, size }, value);            // [H, W]
        return stack(new[] { ramp, level, level.neg() }).MoveToOuterDisposeScope(); // [3, H, W]
    }

    /// <summary>Writes metadata.jsonl with the given lines.</summary>
    public static void Metadata(string dir, params string[] lines) =>
        File.WriteAllText(Path.Combine(dir, "metadata.jsonl"), string.Join("\n", lines) + "\n");

    /// <summary>A folder of <paramref name="count"/> images with two captions each and a metadata.jsonl.</summary>
    public static string Folder(int count)
    {
        string dir = Images(count);
        Metadata(dir, Enumerable.Range(0, count)
            .Select(i => $"{{\"file_name\": \"img{i}.png\", \"text\": [\"image {i}\", \"picture number {i}\"]}}").ToArray());
        return dir;
    }
}
