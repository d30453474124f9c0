using System.Text.Json.Nodes;
using Latent.Cli.Commands;
using Latent.Core.Imaging;
using Latent.TextEncoder;
using Latent.Training.TextEncoder;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent eval txt2img</c> in-process on the conformance pipeline with a tiny scoring CLIP.</summary>
[Collection(InProcessCli.Collection)]
public class EvalTxtToImgCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    /// <summary>4 training and 3 validation 16x16 images with captions.</summary>
    static string Data()
    {
        string dir = TestEnvironment.NewTempDir();
        string[] names = ["cat face", "red apple", "rocket", "cat face", "blue car", "red apple", "rocket"];
        var lines = new List<string>();
        for (int i = 0; i < names.Length; i++)
        {
            using var image = TestTensors.UniformPixels([3, 16, 16], new Generator((ulong)i + 1));
            ImageIO.SavePng(image, Path.Combine(dir, $"{i}.png"));
            lines.Add($"{{\"file_name\": \"{i}.png\", \"text\": \"{names[i]}\", \"split\": \"{(i < 4 ? "train" : "validation")}\"}}");
        }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return dir;
    }

    /// <summary>A tiny CLIP (16px tower) with the conformance tokenizer, whose vocabulary is the tiny text model's.</summary>
    static string Clip()
    {
        string dir = TestEnvironment.NewTempDir();
        manual_seed(9);
        using var clip = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny);
        ClipModelFolder.Save(clip, dir);
        string tokenizer = Path.Combine(dir, ClipModelFolder.TokenizerFolder);
        Directory.CreateDirectory(tokenizer);
        foreach (string file in Directory.GetFiles(Path.Combine(TestEnvironment.Parity, "tokenizer")))
            File.Copy(file, Path.Combine(tokenizer, Path.GetFileName(file)));
        return dir;
    }

    static string Prompts(params string[] lines)
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "prompts.txt");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Eval_ScoresEachScale_WritesJsonAndGrid()
    {
        string json = Path.Combine(TestEnvironment.NewTempDir(), "eval.json");
        string grid = Path.Combine(TestEnvironment.NewTempDir(), "grid.png");
        var r = Run("eval", "txt2img", "--model", TestEnvironment.Parity, "--clip", Clip(), "--data", Data(),
            "--prompts", Prompts("# a comment", "a cat", "", "rocket"), "--cfg", "1,4", "--seeds", "2", "--steps", "2", "--json", json, "--grid", grid);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("2 prompts x 2 seeds at cfg 1, 4, 2 ddim steps; 3 real images", r.Out);
        Assert.Contains("ceiling (real images vs their captions, 4 candidate captions)", r.Out);

        var metrics = JsonNode.Parse(File.ReadAllText(json))!;
        Assert.Equal(2, (int)metrics["prompts"]!);
        Assert.Equal(4, (int)metrics["candidates"]!);                  // blue car, red apple, rocket + "a cat"
        var scales = metrics["scales"]!.AsArray();
        Assert.Equal([1.0, 4.0], scales.Select(s => (double)s!["guidance_scale"]!));
        Assert.All(scales, s => Assert.Equal(4, (int)s!["images"]!));
        using var sheet = ImageIO.Load(grid);                           // 2 rows (scales) of 2 images
        Assert.Equal(3, sheet.shape[0]);
    }

    [Theory]
    [InlineData("--cfg", "1,x", "--cfg must be comma-separated numbers ≥ 0, e.g. 1,3,7.5; got '1,x'.")]
    [InlineData("--seeds", "0", "--seeds must be at least 1; got 0.")]
    [InlineData("--real", "1", "--real must be at least 2; got 1.")]
    public void Eval_BadOption_IsAUsageErrorNamingTheValue(string option, string value, string message)
    {
        var r = Run("eval", "txt2img", "--data", "d", "--prompts", "p", option, value);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void Eval_EmptyPromptFile_ExitsTwoNamingIt()
    {
        string prompts = Prompts("# only a comment", "  ");
        var r = Run("eval", "txt2img", "--model", TestEnvironment.Parity, "--clip", Clip(), "--data", Data(), "--prompts", prompts);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("holds no prompt", r.Err);
        Assert.Contains(prompts, r.Err);
    }

    [Fact]
    public void Eval_ModelWithoutImageEncoder_ExitsTwo()
    {
        var r = Run("eval", "txt2img", "--model", TestEnvironment.Parity, "--data", Data(), "--prompts", Prompts("a cat"));
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("has no text_encoder/ and image_encoder/ configs", r.Err);
    }
}
