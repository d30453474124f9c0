using System.Text.Json.Nodes;

namespace Latent.Pipeline.Evaluation;

/// <summary>One part's paired comparison of two models' judge scores (A minus B).</summary>
/// <param name="Part">"tune", "heldout" or "all".</param>
/// <param name="Prompts">Prompts compared.</param>
/// <param name="A">Model A's mean over the prompts.</param>
/// <param name="B">Model B's mean over the prompts.</param>
/// <param name="Low">The lower end of the 95% percentile bootstrap interval of A − B.</param>
/// <param name="High">Its upper end.</param>
/// <param name="Better">Prompts where A scores higher.</param>
/// <param name="Worse">Prompts where A scores lower.</param>
public sealed record JudgeDifference(string Part, int Prompts, double A, double B, double Low, double High, int Better, int Worse)
{
    /// <summary>A − B.</summary>
    public double Difference => A - B;

    /// <summary>As JSON (snake_case keys).</summary>
    public JsonObject ToJson() => new()
    {
        ["part"] = Part, ["prompts"] = Prompts, ["a"] = A, ["b"] = B, ["difference"] = Difference,
        ["low"] = Low, ["high"] = High, ["better"] = Better, ["worse"] = Worse,
    };
}

/// <summary>
/// Compares two models on the judge prompt list, prompt by prompt: each model's per-prompt scores (from one or more
/// <c>eval txt2img</c> runs at other seeds, averaged by image count) are paired by prompt, and the mean difference gets
/// a 95% percentile bootstrap interval over prompts. Pairing by prompt removes the spread between prompts, which is
/// most of the noise in a 135-prompt list; resampling prompts says how much the list's choice of prompts could move it.
/// </summary>
/// <remarks>Hand-written: the bootstrap is a dozen lines, and no statistics package we could take on is served here.</remarks>
public static class JudgeComparison
{
    /// <summary>Bootstrap resamples per interval.</summary>
    public const int Resamples = 5000;

    /// <summary>The parts compared, in report order.</summary>
    public static readonly IReadOnlyList<string> Parts = ["tune", "heldout", "all"];

    /// <summary>The per-prompt judge scores at one guidance scale of an <c>eval txt2img --json</c> file.</summary>
    /// <param name="path">The JSON file.</param>
    /// <param name="guidanceScale">The scale to read.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="FormatException">It is not such a JSON, has no judge scores, or none at that scale; the message names the file.</exception>
    public static IReadOnlyList<JudgePromptResult> ReadRun(string path, double guidanceScale)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"judge JSON '{path}' does not exist", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (System.Text.Json.JsonException e) { throw new FormatException($"'{path}' is not JSON: {e.Message}", e); }
        var scales = root?["judge"]?["scales"] as JsonArray
                     ?? throw new FormatException($"'{path}' has no judge scores (judge.scales); expected the --json of `latent eval txt2img` with a judge prompt list");
        var scale = scales.FirstOrDefault(s => s?["guidance_scale"]?.GetValue<double>() == guidanceScale)
                    ?? throw new FormatException($"'{path}' has no judge scores at cfg {guidanceScale}; it has cfg " +
                                                 string.Join(", ", scales.Select(s => s?["guidance_scale"]?.ToJsonString())));
        var prompts = scale["per_prompt"] as JsonArray ?? throw new FormatException($"'{path}' has no per_prompt scores at cfg {guidanceScale}");
        try { return prompts.Select(p => JudgePromptResult.FromJson(p!)).ToList(); }
        catch (FormatException e) { throw new FormatException($"'{path}': {e.Message}", e); }
    }

    /// <summary>Per prompt index: its prompt, part, and the image-weighted mean top-1 and top-5 over <paramref name="runs"/>
    /// (the guess fields are the first run's; a comparison reads only the scores).</summary>
    /// <param name="runs">One model's per-prompt scores from one or more runs of the same prompt list.</param>
    /// <param name="name">Names the model in errors.</param>
    /// <exception cref="ArgumentException">No run, or runs of different prompt lists (naming the first prompt that differs).</exception>
    public static IReadOnlyDictionary<int, JudgePromptResult> Pool(IReadOnlyList<IReadOnlyList<JudgePromptResult>> runs, string name)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0) throw new ArgumentException($"{name}: no judge results; expected at least one eval txt2img JSON.", nameof(runs));
        var indexed = runs.Select(run => run.ToDictionary(p => p.Index)).ToList();
        for (int r = 1; r < runs.Count; r++)
            RequireSamePrompts(indexed[0], runs[r], $"{name}: run 1 and run {r + 1}");
        return indexed[0].Values.ToDictionary(p => p.Index, p =>
        {
            var all = indexed.Select(run => run[p.Index]).ToList();
            int images = all.Sum(q => q.Images);
            double Mean(Func<JudgePromptResult, double> pick) => all.Sum(q => pick(q) * q.Images) / Math.Max(images, 1);
            return p with { Images = images, Top1 = Mean(q => q.Top1), Top5 = Mean(q => q.Top5) };
        });
    }

    /// <summary>A − B per part for one score, with its bootstrap interval and the counts of prompts better and worse.</summary>
    /// <param name="a">Model A's pooled scores (<see cref="Pool"/>).</param>
    /// <param name="b">Model B's, over the same prompts.</param>
    /// <param name="score">The score to compare, e.g. top-1.</param>
    /// <param name="seed">Seed of the resampling (the same seed gives the same interval).</param>
    /// <exception cref="ArgumentException">The two models were scored on different prompt lists.</exception>
    public static IReadOnlyList<JudgeDifference> Compare(IReadOnlyDictionary<int, JudgePromptResult> a, IReadOnlyDictionary<int, JudgePromptResult> b,
        Func<JudgePromptResult, double> score, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        RequireSamePrompts(a.ToDictionary(), b.Values.ToList(), "model A and model B");
        var result = new List<JudgeDifference>();
        foreach (string part in Parts)
        {
            var keys = a.Keys.Where(k => part == "all" || a[k].Part == part).Order().ToList();
            if (keys.Count == 0) continue;
            double[] diff = keys.Select(k => score(a[k]) - score(b[k])).ToArray();
            var (low, high) = Interval(diff, new Random(seed));
            result.Add(new JudgeDifference(part, keys.Count, keys.Average(k => score(a[k])), keys.Average(k => score(b[k])), low, high,
                diff.Count(d => d > 0), diff.Count(d => d < 0)));
        }
        return result;
    }

    // The 2.5% and 97.5% percentiles of the mean of `values` resampled with replacement.
    static (double Low, double High) Interval(double[] values, Random random)
    {
        var means = new double[Resamples];
        for (int r = 0; r < Resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < values.Length; i++) sum += values[random.Next(values.Length)];
            means[r] = sum / values.Length;
        }
        Array.Sort(means);
        return (means[(int)(0.025 * Resamples)], means[(int)(0.975 * Resamples) - 1]);
    }

    static void RequireSamePrompts(Dictionary<int, JudgePromptResult> expected, IReadOnlyList<JudgePromptResult> other, string what)
    {
        if (other.Count != expected.Count)
            throw new ArgumentException($"{what} scored different prompt lists ({expected.Count} prompts against {other.Count}); expected the same list, e.g. docs/eval/judge-prompts.tsv for both.");
        foreach (var p in other)
            if (!expected.TryGetValue(p.Index, out var e) || e.Prompt != p.Prompt || e.Part != p.Part)
                throw new ArgumentException($"{what} scored different prompt lists: prompt {p.Index} is '{p.Prompt}' ({p.Part}) against " +
                                            (e is null ? "none" : $"'{e.Prompt}' ({e.Part})") + "; expected the same list for both.");
    }
}
