using System.Text.Json.Nodes;
using Latent.Cli.Commands;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent eval compare</c> in-process on small judge JSONs.</summary>
[Collection(InProcessCli.Collection)]
public class EvalCompareCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    // An eval txt2img JSON with judge scores at cfg 7.5 for three prompts (two tune, one held out).
    static string Json(string dir, string name, params double[] top1)
    {
        var prompts = new JsonArray(top1.Select((t, i) => (JsonNode)new JsonObject
        {
            ["index"] = i, ["prompt"] = $"prompt {i}", ["part"] = i < 2 ? "tune" : "heldout", ["images"] = 2,
            ["top1"] = t, ["top5"] = t, ["guess"] = "cat face", ["guess_share"] = 0.5,
        }).ToArray());
        var json = new JsonObject
        {
            ["judge"] = new JsonObject { ["scales"] = new JsonArray(new JsonObject { ["guidance_scale"] = 7.5, ["per_prompt"] = prompts }) },
        };
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Fact]
    public void Compare_PoolsSeedsPerModel_PrintsEachPart_AndWritesJson()
    {
        string dir = TestEnvironment.NewTempDir();
        string a1 = Json(dir, "a1.json", 1, 0.5, 0), a2 = Json(dir, "a2.json", 1, 0.5, 0.5), b = Json(dir, "b.json", 0.5, 0.5, 0);
        string outJson = Path.Combine(dir, "compare.json");
        var r = Run("eval", "compare", "--a", $"{a1},{a2}", "--b", b, "--json", outJson);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("A: 2 file(s), 12 images; B: 1 file(s), 6 images; cfg 7.5", r.Out);
        Assert.Matches(@"top-1\s+tune\s+2\s+0\.750\s+0\.500\s+\+0\.250", r.Out);
        Assert.Matches(@"top-1\s+heldout\s+1\s+0\.250\s+0\.000\s+\+0\.250\s+\(\+0\.250, \+0\.250\)\s+1/0", r.Out);
        var written = JsonNode.Parse(File.ReadAllText(outJson))!;
        Assert.Equal(3, written["top_1"]!.AsArray().Count);
        Assert.Equal(0.25, written["top_1"]![2]!["difference"]!.GetValue<double>(), 12);
    }

    [Fact]
    public void Compare_AnotherPromptListOrAMissingScale_IsAUserError()
    {
        string dir = TestEnvironment.NewTempDir();
        string a = Json(dir, "a.json", 1, 0.5, 0), shorter = Json(dir, "b.json", 1, 0.5);
        var lists = Run("eval", "compare", "--a", a, "--b", shorter);
        Assert.Equal(CommandRunner.UserError, lists.Code);
        Assert.Contains("different prompt lists", lists.Err);
        var scale = Run("eval", "compare", "--a", a, "--b", a, "--cfg", "3");
        Assert.Equal(CommandRunner.UserError, scale.Code);
        Assert.Contains("no judge scores at cfg 3", scale.Err);
        var missing = Run("eval", "compare", "--a", a, "--b", Path.Combine(dir, "none.json"));
        Assert.Equal(CommandRunner.UserError, missing.Code);
        Assert.Contains("none.json", missing.Err);
    }
}
