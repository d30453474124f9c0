using System.Text.Json.Nodes;
using Latent.Cli.Commands;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent train judge</c> and the judge options of <c>latent eval txt2img</c> in-process.</summary>
[Collection(InProcessCli.Collection)]
public class TrainJudgeCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    /// <summary>Two emoji by two vendors at 64 px (the judge's size), one of them in the validation split.</summary>
    static string Folder()
    {
        string dir = TestEnvironment.NewTempDir();
        var lines = new List<string>();
        int n = 0;
        foreach (string vendor in new[] { "twemoji", "openmoji" })
            foreach (string code in new[] { "1F431", "1F436" })
            {
                using var image = TestTensors.UniformPixels([3, 64, 64], new Generator((ulong)n + 1));
                ImageIO.SavePng(image, Path.Combine(dir, $"{n}.png"));
                string split = n == 3 ? "validation" : "train";
                lines.Add($"{{\"file_name\": \"{n}.png\", \"text\": \"emoji {code}\", \"split\": \"{split}\", \"source\": \"{vendor}\", \"unified\": \"{code}\"}}");
                n++;
            }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return dir;
    }

    [Fact]
    public void Train_MissingDataFolder_OneLineAndNonZeroExit()
    {
        string missing = Path.Combine(TestEnvironment.NewTempDir(), "nope");
        var r = Run("train", "judge", "--data", missing, "--out", TestEnvironment.NewTempDir());
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Equal($"error: --data folder '{missing}' does not exist", r.Err.TrimEnd('\n'));
    }

    [Theory]
    [InlineData("--steps", "0", "--steps must be at least 1; got 0.")]
    [InlineData("--batch-size", "0", "--batch-size must be at least 1; got 0.")]
    [InlineData("--lr", "-1", "--lr must be a number > 0; got -1.")]
    [InlineData("--holdout-source", " ", "--holdout-source must name a vendor")]
    public void Train_BadOption_IsRejected(string option, string value, string expected)
    {
        var r = Run("train", "judge", "--data", "d", "--out", "o", option, value);
        Assert.NotEqual(0, r.Code);
        Assert.Contains(expected, r.Err);
    }

    [Fact]
    public void Train_ResumeWithHyperParameter_IsRejected()
    {
        var r = Run("train", "judge", "--data", Folder(), "--out", TestEnvironment.NewTempDir(), "--resume", "--lr", "0.1");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("drop --lr", r.Err);
    }

    [Fact]
    public void Train_WithHoldout_ExportsAndReports()
    {
        string outDir = TestEnvironment.NewTempDir();
        var r = Run("train", "judge", "--data", Folder(), "--out", outDir, "--steps", "2", "--batch-size", "2", "--warmup", "1",
            "--holdout-source", "openmoji", "--eval-every", "0");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("held-out vendor openmoji: 2 images", r.Out);
        Assert.Contains("holdout:openmoji top-1", r.Out);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")))!;
        Assert.Equal(2, (int)report["holdout:openmoji"]!["images"]!);
        Assert.True(File.Exists(Path.Combine(outDir, "judge", "classes.json")));
    }

    [Fact]
    public void Train_ExportOnlyWithoutResume_IsRejected()
    {
        var r = Run("train", "judge", "--data", Folder(), "--out", TestEnvironment.NewTempDir(), "--export-only");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--export-only exports a stopped run's checkpoint", r.Err);
    }

    [Fact]
    public void Train_StoppedRun_ExportOnlyWritesTheJudge()
    {
        string data = Folder(), outDir = TestEnvironment.NewTempDir();
        Assert.Equal(0, Run("train", "judge", "--data", data, "--out", outDir, "--steps", "1", "--batch-size", "2", "--warmup", "0", "--eval-every", "0").Code);
        Directory.Delete(Path.Combine(outDir, "judge"), recursive: true);
        var r = Run("train", "judge", "--data", data, "--out", outDir, "--resume", "--export-only");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("exported step 1/1 (EMA)", r.Out);
        Assert.True(File.Exists(Path.Combine(outDir, "judge", "model.safetensors")));
    }

    [Fact]
    public void FindJudge_NamedJudgeNeedsAJudgePromptList()
    {
        string outDir = TestEnvironment.NewTempDir();
        Assert.Equal(0, Run("train", "judge", "--data", Folder(), "--out", outDir, "--steps", "1", "--batch-size", "2", "--warmup", "0", "--eval-every", "0").Code);
        var e = Assert.Throws<ArgumentException>(() => EvalTxtToImgCommand.FindJudge(Path.Combine(outDir, "judge"), judgeList: false));
        Assert.Contains("--judge needs a judge prompt list", e.Message);
        Assert.Equal(Path.Combine(outDir, "judge"), EvalTxtToImgCommand.FindJudge(Path.Combine(outDir, "judge"), judgeList: true));
        Assert.Null(EvalTxtToImgCommand.FindJudge("none", judgeList: true));
        Assert.Throws<DirectoryNotFoundException>(() => EvalTxtToImgCommand.FindJudge(outDir, judgeList: true));
    }

    [Fact]
    public void IsJudgeList_ByExtension()
    {
        Assert.True(EvalTxtToImgCommand.IsJudgeList("docs/eval/judge-prompts.tsv"));
        Assert.False(EvalTxtToImgCommand.IsJudgeList("docs/eval/prompts.txt"));
    }
}
