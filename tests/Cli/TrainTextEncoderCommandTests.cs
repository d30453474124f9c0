using System.Text.Json.Nodes;
using Latent.Cli.Commands;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent train text-encoder</c> and <c>latent eval text-encoder</c> in-process with stdout and stderr captured.</summary>
[Collection(InProcessCli.Collection)]
public class TrainTextEncoderCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    /// <summary>A folder of 6 training and 2 validation 16x16 images with captions, keys and categories.</summary>
    static string Folder()
    {
        string dir = TestEnvironment.NewTempDir();
        string[] names = ["cat face", "red apple", "blue car", "green tree", "yellow star", "ice cube"];
        var lines = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            using var image = TestTensors.UniformPixels([3, 16, 16], new Generator((ulong)i + 1));
            ImageIO.SavePng(image, Path.Combine(dir, $"{i}.png"));
            string name = names[i % names.Length];
            lines.Add($"{{\"file_name\": \"{i}.png\", \"text\": [\"{name}\", \"{name}, emoji\"], \"split\": \"{(i < 6 ? "train" : "validation")}\", " +
                      $"\"unified\": \"1F{600 + i % names.Length}\", \"category\": \"{(i % 2 == 0 ? "Animals & Nature" : "food-drink")}\"}}");
        }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return dir;
    }

    [Theory]
    [InlineData("--steps", "0", "--steps must be at least 1; got 0.")]
    [InlineData("--batch-size", "1", "--batch-size must be at least 2 (a contrastive batch needs negatives); got 1.")]
    [InlineData("--preset", "huge", "--preset must be default or tiny; got 'huge'.")]
    [InlineData("--vocab-size", "100", "--vocab-size must be in [514, 49408]; got 100.")]
    [InlineData("--lr", "-1", "--lr must be a positive number; got -1.")]
    public void Train_BadOption_IsAUsageErrorNamingTheValue(string option, string value, string message)
    {
        var r = Run("train", "text-encoder", "--data", "d", "--out", "o", option, value);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void Train_MissingDataFolder_ExitsTwoWithOneLine()
    {
        string missing = Path.Combine(TestEnvironment.NewTempDir(), "nope");
        var r = Run("train", "text-encoder", "--data", missing, "--out", TestEnvironment.NewTempDir());
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Equal($"error: --data folder '{missing}' does not exist", r.Err.TrimEnd('\n'));
    }

    [Fact]
    public void Train_ResumeWithoutRun_ExitsTwo()
    {
        string outDir = TestEnvironment.NewTempDir();
        var r = Run("train", "text-encoder", "--data", Folder(), "--out", outDir, "--resume");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("holds no run to continue", r.Err);
    }

    [Fact]
    public void Train_ResumeWithHyperParameter_ExitsTwoNamingIt()
    {
        var r = Run("train", "text-encoder", "--data", Folder(), "--out", TestEnvironment.NewTempDir(), "--resume", "--steps", "5");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("drop --steps", r.Err);
    }

    [Fact]
    public void Eval_MissingTokenizer_ExitsTwo()
    {
        string model = TestEnvironment.NewTempDir();
        var r = Run("eval", "text-encoder", "--model", model, "--data", Folder());
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("has no tokenizer/", r.Err);
    }

    [Fact]
    public void TrainThenEval_TinyRun_ExportsAndWritesMetrics()
    {
        string data = Folder();
        string outDir = TestEnvironment.NewTempDir();
        var train = Run("train", "text-encoder", "--data", data, "--out", outDir, "--preset", "tiny", "--vocab-size", "600",
            "--steps", "4", "--batch-size", "3", "--warmup", "1", "--eval-every", "2", "--checkpoint-every", "2");
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("learnt a tokenizer of", train.Out);
        Assert.Contains("done: 4 steps", train.Out);
        Assert.Contains("step 4/4 loss", train.Out);   // the plain reporter when redirected
        foreach (string dir in new[] { "text_encoder", "image_encoder", "tokenizer" })
            Assert.True(Directory.Exists(Path.Combine(outDir, dir)), $"missing {dir}/");

        // --resume reads the saved configs and tokenizer back; a finished run resumes at its end and re-exports.
        var resumed = Run("train", "text-encoder", "--data", data, "--out", outDir, "--resume");
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains("resumed at step 4", resumed.Out);
        var again = Run("train", "text-encoder", "--data", data, "--out", outDir, "--preset", "tiny");
        Assert.Equal(CommandRunner.UserError, again.Code);
        Assert.Contains("already holds a run", again.Err);

        // --init-from: a second run starts from the first one's CLIP, configs and tokenizer.
        string second = TestEnvironment.NewTempDir();
        var init = Run("train", "text-encoder", "--data", data, "--out", second, "--init-from", outDir, "--steps", "2", "--batch-size", "3",
            "--warmup", "0", "--eval-every", "0");
        Assert.True(init.Code == 0, init.Err);
        Assert.Contains($"starting from the CLIP in {outDir}", init.Out);
        Assert.Contains("done: 2 steps", init.Out);
        Assert.Contains($"\"init_from\": \"{outDir}\"", File.ReadAllText(Path.Combine(second, "training_config.json")));
        Assert.Equal(File.ReadAllText(Path.Combine(outDir, "tokenizer", "vocab.json")), File.ReadAllText(Path.Combine(second, "tokenizer", "vocab.json")));
        var withPreset = Run("train", "text-encoder", "--data", data, "--out", TestEnvironment.NewTempDir(), "--init-from", outDir, "--preset", "tiny");
        Assert.Equal(CommandRunner.UserError, withPreset.Code);
        Assert.Contains("--init-from names the model and its tokenizer; drop --preset", withPreset.Err);
        string notAClip = TestEnvironment.NewTempDir();
        var missing = Run("train", "text-encoder", "--data", data, "--out", TestEnvironment.NewTempDir(), "--init-from", notAClip);
        Assert.Equal(CommandRunner.UserError, missing.Code);
        Assert.Contains($"--init-from '{notAClip}' is not a CLIP folder", missing.Err);

        string json = Path.Combine(TestEnvironment.NewTempDir(), "metrics.json");
        var eval = Run("eval", "text-encoder", "--model", outDir, "--data", data, "--json", json);
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Contains("text->image recall@5", eval.Out);
        Assert.Contains("2 pairs (fewer than the 500", eval.Out);
        var metrics = JsonNode.Parse(File.ReadAllText(json))!;
        Assert.Equal(2, (int)metrics["pairs"]!);
        Assert.Equal(2, (int)metrics["zero_shot_classes"]!);
        Assert.InRange((double)metrics["text_to_image_recall@1"]!, 0, 1);
    }
}
