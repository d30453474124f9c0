using Latent.Core.Imaging;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Vae;

namespace Latent.Training.Tests.Vae;

/// <summary>Writes small image folders (smooth random PNGs + metadata.jsonl) for trainer tests.</summary>
internal static class TestImageFolder
{
    /// <summary>A folder of <paramref name="train"/> + <paramref name="validation"/> smooth <paramref name="size"/>-pixel images.</summary>
    public static string Create(int train, int validation = 0, int size = 16, ulong seed = 1)
    {
        string dir = TestEnvironment.NewTempDir();
        using var scope = NewDisposeScope();
        using var generator = new Generator(seed);
        // [N, 3, 4, 4] uniform in [-1, 1] -> bilinear -> [N, 3, size, size]: smooth, as real images are
        var coarse = TestTensors.UniformPixels([train + validation, 3, 4, 4], generator);
        var images = nn.functional.interpolate(coarse, new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false);
        var lines = new List<string>();
        for (int i = 0; i < train + validation; i++)
        {
            string name = $"img{i:D3}.png";
            ImageIO.SavePng(images[i], Path.Combine(dir, name));
            string split = i < train ? "train" : "validation";
            lines.Add($"{{\"file_name\": \"{name}\", \"text\": \"image {i}\", \"split\": \"{split}\"}}");
        }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return dir;
    }
}
