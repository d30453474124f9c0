using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Latent.Core.IO;
using Latent.Pipeline.Evaluation;

namespace Latent.Cli.Commands;

/// <summary>
/// <c>latent eval compare</c>: is model A better than model B on the judge prompt list? Pairs the per-prompt judge scores
/// of two sets of <c>eval txt2img --json</c> files (one or more seeds each) and prints A − B per part with a 95%
/// bootstrap interval over prompts (<see cref="JudgeComparison"/>). Reads JSON only: no engine, no model.
/// </summary>
public static class EvalCompareCommand
{
    static readonly Option<string[]> A = new("--a")
    {
        Description = "Model A's `eval txt2img --json` files (other --seed values of the same model are pooled); repeat or separate with commas.",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    };
    static readonly Option<string[]> B = new("--b")
    {
        Description = "Model B's files, of the same prompt list (the model A is measured against, e.g. the shipped one).",
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    };
    static readonly Option<double> Cfg = new("--cfg") { Description = "The guidance scale to compare (each file must have judge scores at it).", DefaultValueFactory = _ => 7.5 };
    static readonly Option<int> Seed = new("--seed") { Description = "Seed of the bootstrap resampling.", DefaultValueFactory = _ => 0 };
    static readonly Option<string?> Json = new("--json") { Description = "Also write the comparison as JSON to this file." };

    /// <summary>Builds the command (registered as <c>latent eval compare</c>).</summary>
    public static Command Create()
    {
        var command = new Command("compare",
            "Compare two models' judge scores prompt by prompt (eval txt2img JSONs, several seeds each): A - B per part with a 95% bootstrap interval over prompts, and the prompts better and worse.");
        command.Options.Add(A);
        command.Options.Add(B);
        command.Options.Add(Cfg);
        command.Options.Add(Seed);
        command.Options.Add(Json);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        double cfg = parsed.GetValue(Cfg);
        var aFiles = Files(parsed.GetValue(A)!);
        var bFiles = Files(parsed.GetValue(B)!);
        var a = JudgeComparison.Pool(aFiles.Select(f => JudgeComparison.ReadRun(f, cfg)).ToList(), "--a");
        var b = JudgeComparison.Pool(bFiles.Select(f => JudgeComparison.ReadRun(f, cfg)).ToList(), "--b");
        int seed = parsed.GetValue(Seed);
        var scores = new (string Name, Func<JudgePromptResult, double> Pick)[] { ("top-1", p => p.Top1), ("top-5", p => p.Top5) };
        var results = scores.Select(s => (s.Name, Rows: JudgeComparison.Compare(a, b, s.Pick, seed))).ToList();

        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"A: {aFiles.Count} file(s), {a.Values.Sum(p => p.Images)} images; B: {bFiles.Count} file(s), {b.Values.Sum(p => p.Images)} images; " +
                          $"cfg {cfg.ToString("0.##", c)}; paired by prompt, 95% bootstrap interval over prompts ({JudgeComparison.Resamples} resamples, seed {seed})");
        Console.WriteLine($"{"score",-6} {"part",-8} {"prompts",7} {"A",6} {"B",6} {"A-B",7}  {"95% interval",-17} {"better/worse",12}");
        foreach (var (name, rows) in results)
            foreach (var r in rows)
                Console.WriteLine($"{name,-6} {r.Part,-8} {r.Prompts,7} {r.A.ToString("F3", c),6} {r.B.ToString("F3", c),6} {r.Difference.ToString("+0.000;-0.000", c),7}  " +
                                  $"({r.Low.ToString("+0.000;-0.000", c)}, {r.High.ToString("+0.000;-0.000", c)}) {($"{r.Better}/{r.Worse}"),12}");

        if (parsed.GetValue(Json) is { } jsonPath)
        {
            var json = new JsonObject
            {
                ["a"] = new JsonArray(aFiles.Select(f => (JsonNode)f).ToArray()),
                ["b"] = new JsonArray(bFiles.Select(f => (JsonNode)f).ToArray()),
                ["guidance_scale"] = cfg,
                ["resamples"] = JudgeComparison.Resamples,
                ["seed"] = seed,
            };
            foreach (var (name, rows) in results)
                json[name.Replace('-', '_')] = new JsonArray(rows.Select(r => (JsonNode)r.ToJson()).ToArray());
            AtomicFile.WriteAllText(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            Console.WriteLine($"wrote {Path.GetFullPath(jsonPath)}");
        }
        return 0;
    }

    // The option's values, each split at commas.
    static List<string> Files(IEnumerable<string> values) =>
        values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
}
