using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.TextEncoder.Tokenization;
using Latent.Training.TextEncoder;
using Latent.TextEncoder.Captions;
using TorchSharp;
using static TorchSharp.torch;
using Latent.TextEncoder;

namespace Latent.Training.Tests.TextEncoder;

/// <summary>Small emoji-like image folders for the trainer tests: smooth random 16px images with names, keys and categories.</summary>
internal static class TestClipFolder
{
    static readonly string[] Names =
    [
        "red apple", "blue car", "green tree", "yellow star", "orange cat face", "purple heart", "grinning face", "ice cube",
        "black flag", "white cloud", "brown dog", "pink flower",
    ];

    static readonly string[] Categories = ["Food & Drink", "travel-places", "animals-nature", "Symbols"];

    /// <summary>
    /// A folder with <paramref name="emoji"/> emoji in the train split, each in <paramref name="renderings"/> styles (the
    /// same key "U+..." and captions, slightly different pixels), and <paramref name="validation"/> further renderings of
    /// the first emoji in the validation split.
    /// </summary>
    public static string Create(int emoji, int renderings = 1, int validation = 0, int size = 16)
    {
        string dir = TestEnvironment.NewTempDir();
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        // [E, 3, 4, 4] uniform in [-1, 1] -> bilinear -> [E, 3, size, size]: one smooth image per emoji
        var coarse = TestTensors.UniformPixels([emoji, 3, 4, 4], generator);
        var images = nn.functional.interpolate(coarse, new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false);
        var lines = new List<string>();
        void Add(int e, int style, string split)
        {
            string name = $"img{e:D2}-{style}.png";
            using var noiseScale = (0.05 * style).ToScalar();   // each style a little more noise
            var noise = randn(new long[] { 3, size, size }, generator: generator);
            var image = images[e].add(noiseScale * noise, Scalars.One).clamp(Scalars.Of(-1), Scalars.Of(1));
            ImageIO.SavePng(image, Path.Combine(dir, name));
            string caption = Names[e % Names.Length] + (e >= Names.Length ? $" {e}" : "");
            lines.Add($"{{\"file_name\": \"{name}\", \"text\": [\"{caption}\", \"{caption}, emoji\"], \"split\": \"{split}\", " +
                      $"\"unified\": \"1F{600 + e}-FE0F\", \"category\": \"{Categories[e % Categories.Length]}\"}}");
        }
        for (int e = 0; e < emoji; e++)
            for (int s = 0; s < renderings; s++) Add(e, s, "train");
        for (int v = 0; v < validation; v++) Add(v % emoji, renderings + v / emoji, "validation");
        File.WriteAllLines(Path.Combine(dir, ImageFolderDataset.MetadataFile), lines);
        return dir;
    }

    public static ImageFolderDataset Read(string folder, string split = "train") =>
        ImageFolderDataset.Read(folder, new ImageFolderOptions { Split = split });

    /// <summary>A BPE tokenizer learnt from the folder's training captions (the smallest vocabulary allowed).</summary>
    public static ClipTokenizer Tokenizer(ImageFolderDataset train) =>
        ClipBpeTrainer.Train(train.Records.SelectMany(r => r.Captions).Concat(CaptionTemplates.Default), ClipBpeTrainerOptions.Tiny);

    /// <summary>The tiny text config sized for <paramref name="tokenizer"/>.</summary>
    public static ClipTextConfig TextConfig(ClipTokenizer tokenizer) => ClipTrainer.TextConfigFor(ClipTextConfig.Tiny, tokenizer);
}
