using Latent.Pipeline.Metadata;
using System.Text.Json.Nodes;
using Latent.Cli.Commands;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Issue 25 from the command line: <c>train unet --learned-variance</c>, <c>train classifier</c>, and <c>txt2img --classifier</c>.</summary>
[Collection(InProcessCli.Collection)]
public class GuidanceCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    [Fact]
    public void TrainUNet_LearnedVariance_FromACChannelUNet_ExportsADdpmLearnedRangeModelThatGenerates()
    {
        var w = TrainUNetCommandTests.World();
        string[] Common(string outDir) => ["train", "unet", "--data", w.Data, "--out", outDir, "--vae", w.Vae, "--text-encoder", w.TextEncoder,
            "--tokenizer", w.Tokenizer, "--steps", "2", "--batch-size", "2", "--warmup", "0", "--sample-every", "0", "--prompt", "red", "--export-dtype", "Float32"];
        string first = TestEnvironment.NewTempDir(), second = TestEnvironment.NewTempDir();
        Assert.Equal(0, Run([.. Common(first), "--preset", "tiny"]).Code);
        var learned = Run([.. Common(second), "--init-from", Path.Combine(first, "unet"), "--learned-variance"]);
        Assert.True(learned.Code == 0, learned.Err);
        var unet = JsonNode.Parse(File.ReadAllText(Path.Combine(second, "unet", "config.json")))!;
        var scheduler = JsonNode.Parse(File.ReadAllText(Path.Combine(second, "scheduler", "scheduler_config.json")))!;
        Assert.Equal(8, (int)unet["out_channels"]!);
        Assert.Equal(("DDPMScheduler", "learned_range"), ((string)scheduler["_class_name"]!, (string)scheduler["variance_type"]!));
        string png = Path.Combine(TestEnvironment.NewTempDir(), "lv.png");
        var generate = Run("txt2img", "red", "--model", second, "--steps", "3", "--seed", "1", "--out", png, "--runtime", "libtorch");
        Assert.True(generate.Code == 0, generate.Err);
        Assert.Equal("DDPM", GenerationParameters.ReadPng(png)!.Sampler);
    }

    // Two emoji at 64 px and a prompt list naming them (the parity model's VAE makes 32 px, 4x4 latents of them).
    static (string Data, string Prompts) ClassifierData()
    {
        string data = TestEnvironment.NewTempDir();
        var lines = new List<string>();
        int n = 0;
        foreach (string code in new[] { "1F431", "1F436", "1F431", "1F436" })
        {
            using var image = TestTensors.UniformPixels([3, 64, 64], new Generator((ulong)n + 1));
            ImageIO.SavePng(image, Path.Combine(data, $"{n}.png"));
            lines.Add($"{{\"file_name\": \"{n}.png\", \"text\": \"emoji {code}\", \"split\": \"train\", \"unified\": \"{code}\"}}");
            n++;
        }
        File.WriteAllLines(Path.Combine(data, "metadata.jsonl"), lines);
        string prompts = Path.Combine(data, "prompts.tsv");
        File.WriteAllLines(prompts, ["prompt\tcodes\tpart", "a cat\t1F431\ttune", "a dog\t1F436\theldout"]);
        return (data, prompts);
    }

    [Fact]
    public void TrainClassifier_ResumesItsRun_AndRefusesASecondRunOrNewHyperParameters()
    {
        var (data, prompts) = ClassifierData();
        string outDir = TestEnvironment.NewTempDir();
        string[] common = ["train", "classifier", "--data", data, "--out", outDir, "--vae", Path.Combine(TestEnvironment.Parity, "vae")];
        var first = Run([.. common, "--prompts", prompts, "--steps", "2", "--batch-size", "4"]);
        Assert.True(first.Code == 0, first.Err);

        var again = Run([.. common, "--prompts", prompts, "--steps", "2"]);
        Assert.Equal(CommandRunner.UserError, again.Code);
        Assert.Contains("already holds a run", again.Err);
        var withLr = Run([.. common, "--resume", "--lr", "0.1"]);
        Assert.Equal(CommandRunner.UserError, withLr.Code);
        Assert.Contains("drop --lr", withLr.Err);

        // The resumed run reads its prompt list and schedule from the run folder.
        File.Delete(prompts);
        var resumed = Run([.. common, "--resume"]);
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains("resumed at step 2", resumed.Out);
        Assert.True(File.Exists(Path.Combine(outDir, "classes.json")));
    }

    [Fact]
    public void TrainClassifier_ThenTxtToImgGuidedTowardItsClass()
    {
        var (data, prompts) = ClassifierData();
        string classifier = TestEnvironment.NewTempDir();
        var train = Run("train", "classifier", "--data", data, "--out", classifier, "--vae", Path.Combine(TestEnvironment.Parity, "vae"),
            "--prompts", prompts, "--steps", "3", "--batch-size", "4");
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("on 4 images of 2 emoji", train.Out);
        Assert.True(File.Exists(Path.Combine(classifier, "classes.json")));

        string png = Path.Combine(TestEnvironment.NewTempDir(), "cg.png");
        var guided = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--steps", "2", "--seed", "1", "--out", png,
            "--classifier", classifier, "--class", "1F431", "--classifier-scale", "3", "--runtime", "libtorch");
        Assert.True(guided.Code == 0, guided.Err);
        var unknown = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--steps", "2", "--out", png, "--classifier", classifier, "--class", "pizza");
        Assert.Equal(CommandRunner.UserError, unknown.Code);
        Assert.Contains("--class 'pizza' is none of the classifier's 2 classes", unknown.Err);
    }

    [Fact]
    public void TxtToImg_ClassWithoutClassifier_IsAUserError()
    {
        var r = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--class", "1F431");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--class needs --classifier DIR", r.Err);
    }

    [Fact]
    public void TxtToImg_ClassifierWithoutClass_IsAUserError()
    {
        var r = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--classifier", TestEnvironment.NewTempDir());
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--classifier needs --class NAME", r.Err);
    }
}
