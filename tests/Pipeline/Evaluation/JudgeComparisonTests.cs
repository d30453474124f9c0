using System.Text.Json.Nodes;
using Latent.Pipeline.Evaluation;

namespace Latent.Pipeline.Tests.Evaluation;

public class JudgeComparisonTests
{
    // Prompts 0-3 tune, 4-5 held out; `top1[i]` is prompt i's score, top-5 twice it (capped at 1).
    static List<JudgePromptResult> Run(double[] top1, int images = 2) =>
        top1.Select((t, i) => new JudgePromptResult(i, $"prompt {i}", i < 4 ? "tune" : "heldout", images, t, Math.Min(1, 2 * t), "guess", 0.5)).ToList();

    static IReadOnlyDictionary<int, JudgePromptResult> Pool(params List<JudgePromptResult>[] runs) => JudgeComparison.Pool(runs, "model");

    [Fact]
    public void Pool_AveragesRunsByImageCount()
    {
        var pooled = JudgeComparison.Pool([Run([1, 0, 0, 0, 0, 0], images: 2), Run([0, 0, 0, 0, 0, 0.5], images: 6)], "model");
        Assert.Equal(0.25, pooled[0].Top1, 12);          // (1·2 + 0·6) / 8
        Assert.Equal(0.375, pooled[5].Top1, 12);         // (0·2 + 0.5·6) / 8
        Assert.Equal(8, pooled[0].Images);
        Assert.Equal("heldout", pooled[5].Part);
    }

    [Fact]
    public void Pool_RunsOfAnotherPromptList_AreRefusedNamingThePrompt()
    {
        var other = Run([0, 0, 0, 0, 0, 0]);
        other[2] = other[2] with { Prompt = "a dog" };
        var e = Assert.Throws<ArgumentException>(() => JudgeComparison.Pool([Run([0, 0, 0, 0, 0, 0]), other], "--a"));
        Assert.Contains("--a", e.Message);
        Assert.Contains("'a dog'", e.Message);
        Assert.Throws<ArgumentException>(() => JudgeComparison.Pool([Run([0, 0, 0, 0, 0, 0]), Run([0, 0, 0])], "--a"));
        Assert.Throws<ArgumentException>(() => JudgeComparison.Pool([], "--a"));
    }

    [Fact]
    public void Compare_TheSameModel_IsZeroWithAZeroInterval()
    {
        var a = Pool(Run([1, 0.5, 0, 0, 0.5, 1]));
        var rows = JudgeComparison.Compare(a, a, p => p.Top1);
        Assert.Equal(["tune", "heldout", "all"], rows.Select(r => r.Part));
        Assert.All(rows, r => Assert.Equal((0.0, 0.0, 0.0, 0, 0), (r.Difference, r.Low, r.High, r.Better, r.Worse)));
        Assert.Equal((4, 2, 6), (rows[0].Prompts, rows[1].Prompts, rows[2].Prompts));
    }

    [Fact]
    public void Compare_AUniformGain_IsExact_AndAMixedOneHasAnIntervalAroundItsMean()
    {
        var b = Pool(Run([0, 0.25, 0.5, 0, 0.25, 0]));
        var a = Pool(Run([0.25, 0.5, 0.75, 0.25, 0.5, 0.25]));
        var uniform = JudgeComparison.Compare(a, b, p => p.Top1).Single(r => r.Part == "all");
        Assert.Equal((0.25, 0.25, 0.25, 6, 0), (Math.Round(uniform.Difference, 12), Math.Round(uniform.Low, 12), Math.Round(uniform.High, 12), uniform.Better, uniform.Worse));

        var mixed = Pool(Run([0.5, 0, 0.5, 0.25, 0, 0.5]));       // differences +0.5, -0.25, 0, +0.25, -0.25, +0.5
        var rows = JudgeComparison.Compare(mixed, b, p => p.Top1, seed: 3);
        var all = rows.Single(r => r.Part == "all");
        Assert.Equal(0.75 / 6, all.Difference, 12);
        Assert.True(all.Low < all.Difference && all.Difference < all.High, $"interval ({all.Low}, {all.High}) around {all.Difference}");
        Assert.True(all.Low >= -0.25 && all.High <= 0.5);
        Assert.Equal((3, 2), (all.Better, all.Worse));
        Assert.Equal(rows, JudgeComparison.Compare(mixed, b, p => p.Top1, seed: 3));   // seeded: the same interval
        Assert.Throws<ArgumentException>(() => JudgeComparison.Compare(mixed, Pool(Run([0, 0, 0])), p => p.Top1));
    }

    [Fact]
    public void ReadRun_ReadsOneScalesPerPromptScores_AndNamesTheFileWhenItCannot()
    {
        string dir = TestEnvironment.NewTempDir();
        string path = Path.Combine(dir, "eval.json");
        File.WriteAllText(path, EvalJson(Run([1, 0, 0, 0, 0, 0.5]), 7.5).ToJsonString());
        var read = JudgeComparison.ReadRun(path, 7.5);
        Assert.Equal(Run([1, 0, 0, 0, 0, 0.5]), read);

        var noScale = Assert.Throws<FormatException>(() => JudgeComparison.ReadRun(path, 3));
        Assert.Contains("eval.json", noScale.Message);
        Assert.Contains("7.5", noScale.Message);
        string notJudge = Path.Combine(dir, "other.json");
        File.WriteAllText(notJudge, "{\"scales\": []}");
        Assert.Contains("no judge scores", Assert.Throws<FormatException>(() => JudgeComparison.ReadRun(notJudge, 7.5)).Message);
        string broken = Path.Combine(dir, "broken.json");
        File.WriteAllText(broken, EvalJson(Run([1]), 7.5).ToJsonString().Replace("\"top1\"", "\"top_1\""));
        Assert.Contains("'top1'", Assert.Throws<FormatException>(() => JudgeComparison.ReadRun(broken, 7.5)).Message);
        Assert.Throws<FileNotFoundException>(() => JudgeComparison.ReadRun(Path.Combine(dir, "missing.json"), 7.5));
    }

    /// <summary>The judge part of an <c>eval txt2img --json</c> file with one scale.</summary>
    public static JsonObject EvalJson(IEnumerable<JudgePromptResult> prompts, double scale) => new()
    {
        ["judge"] = new JsonObject
        {
            ["scales"] = new JsonArray(new JsonObject
            {
                ["guidance_scale"] = scale,
                ["per_prompt"] = new JsonArray(prompts.Select(p => (JsonNode)p.ToJson()).ToArray()),
            }),
        },
    };
}
