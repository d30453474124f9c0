using System.Text.Json.Nodes;
using Latent.Judge;
using Latent.Judge.Evaluation;
using static TorchSharp.torch;

namespace Latent.Pipeline.Evaluation;

/// <summary>What the judge needs to score a prompt list: the judge, each prompt's acceptable classes and part, and real
/// renderings of the prompts' emoji (the ceiling and the Fréchet reference).</summary>
/// <param name="Judge">The emoji judge (eval mode is set while scoring).</param>
/// <param name="Acceptable">One set of class ids per prompt, in the prompts' order.</param>
/// <param name="Parts">One part per prompt.</param>
/// <param name="RealImages">[M, 3, S, S] real renderings in [-1, 1], M ≥ 2.</param>
/// <param name="RealPrompt">M prompt indices: which prompt each real image renders (an image may appear once per prompt).</param>
/// <param name="ClassNames">The judge's class names by id, for the per-prompt report's guesses; null: class ids as text.</param>
public sealed record JudgeReference(EmojiJudge Judge, IReadOnlyList<IReadOnlyCollection<int>> Acceptable, IReadOnlyList<PromptPart> Parts,
    Tensor RealImages, IReadOnlyList<int> RealPrompt, IReadOnlyList<string>? ClassNames = null);

/// <summary>The judge's scores of one prompt's images: what a model draws and what it does not, prompt by prompt.</summary>
/// <param name="Index">The prompt's index in the list.</param>
/// <param name="Prompt">The prompt.</param>
/// <param name="Part">"tune" or "heldout".</param>
/// <param name="Images">Images of the prompt scored.</param>
/// <param name="Top1">Fraction of them whose first choice is an acceptable emoji.</param>
/// <param name="Top5">Fraction with an acceptable emoji among the first five.</param>
/// <param name="Guess">The class the judge put first most often (the lowest id on a tie), by name.</param>
/// <param name="GuessShare">Fraction of the images for which <paramref name="Guess"/> came first.</param>
public sealed record JudgePromptResult(int Index, string Prompt, string Part, int Images, double Top1, double Top5, string Guess, double GuessShare)
{
    /// <summary>As JSON (snake_case keys).</summary>
    public JsonObject ToJson() => new()
    {
        ["index"] = Index,
        ["prompt"] = Prompt,
        ["part"] = Part,
        ["images"] = Images,
        ["top1"] = Top1,
        ["top5"] = Top5,
        ["guess"] = Guess,
        ["guess_share"] = GuessShare,
    };

    /// <summary>Reads <see cref="ToJson"/>'s object back.</summary>
    /// <exception cref="FormatException">A key is missing or has the wrong type; the message names it.</exception>
    public static JudgePromptResult FromJson(JsonNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        T Get<T>(string key)
        {
            try { return node[key] is { } v ? v.GetValue<T>() : throw new FormatException($"per-prompt entry has no '{key}'"); }
            catch (InvalidOperationException e) { throw new FormatException($"per-prompt entry's '{key}' is not a {typeof(T).Name}", e); }
        }
        return new JudgePromptResult(Get<int>("index"), Get<string>("prompt"), Get<string>("part"), Get<int>("images"),
            Get<double>("top1"), Get<double>("top5"), Get<string>("guess"), Get<double>("guess_share"));
    }
}

/// <summary>The judge's scores of one set of images over the prompts of one part.</summary>
/// <param name="Part">"all", "tune" or "heldout".</param>
/// <param name="Prompts">Prompts in the part.</param>
/// <param name="Images">Images scored.</param>
/// <param name="Top1">Mean over the part's prompts of the fraction of their images whose first choice is an acceptable emoji.</param>
/// <param name="Top5">The same with an acceptable emoji among the first five.</param>
/// <param name="FrechetDistance">Fréchet distance between the judge features of these images and of the part's real
/// renderings (NaN for the real images themselves, the reference, or when a set has fewer than 2 images).</param>
public sealed record JudgePartScores(string Part, int Prompts, int Images, double Top1, double Top5, double FrechetDistance)
{
    /// <summary>As JSON (snake_case keys; NaN as null).</summary>
    public JsonObject ToJson() => new()
    {
        ["part"] = Part,
        ["prompts"] = Prompts,
        ["images"] = Images,
        ["top1"] = Top1,
        ["top5"] = Top5,
        ["frechet_distance"] = double.IsFinite(FrechetDistance) ? FrechetDistance : null,
    };
}

/// <summary>
/// Judge scores per part: top-1/top-5 prompt accuracy (a hit is any acceptable emoji), averaged per prompt so every
/// prompt weighs the same however many images it has, and the Fréchet distance of judge features to real renderings.
/// </summary>
public static class JudgePromptScores
{
    /// <summary>The parts reported, in order.</summary>
    public static readonly string[] PartNames = ["all", "tune", "heldout"];

    /// <summary>Scores rows (images) of known prompts by part.</summary>
    /// <param name="logits">[N, K] judge logits.</param>
    /// <param name="features">[N, D] judge features.</param>
    /// <param name="promptOfRow">N prompt indices.</param>
    /// <param name="reference">The prompts' acceptable classes and parts.</param>
    /// <param name="realFeatures">[M, D] features of the reference's real images, or null for the real images themselves.</param>
    public static List<JudgePartScores> Score(Tensor logits, Tensor features, IReadOnlyList<int> promptOfRow, JudgeReference reference, Tensor? realFeatures)
    {
        ArgumentNullException.ThrowIfNull(features);
        var byPrompt = Rates(logits, promptOfRow, reference);
        var results = new List<JudgePartScores>();
        foreach (string part in PartNames)
        {
            bool In(int prompt) => part == "all" || (part == "heldout") == (reference.Parts[prompt] == PromptPart.HeldOut);
            var rows = Enumerable.Range(0, promptOfRow.Count).Where(r => In(promptOfRow[r])).ToArray();
            var prompts = byPrompt.Where(p => In(p.Prompt)).ToList();
            if (rows.Length == 0)
            {
                results.Add(new JudgePartScores(part, 0, 0, double.NaN, double.NaN, double.NaN));
                continue;
            }
            double frechet = double.NaN;
            if (realFeatures is not null)
            {
                var realRows = Enumerable.Range(0, reference.RealPrompt.Count).Where(r => In(reference.RealPrompt[r])).Select(r => (long)r).ToArray();
                if (rows.Length >= 2 && realRows.Length >= 2)
                {
                    using var scope = NewDisposeScope();
                    using var rowIndex = tensor(rows.Select(r => (long)r).ToArray());
                    using var realIndex = tensor(realRows);
                    frechet = FrechetDistance.Compute(features.index_select(0, rowIndex), realFeatures.index_select(0, realIndex));
                }
            }
            results.Add(new JudgePartScores(part, prompts.Count, rows.Length, prompts.Average(p => p.Top1), prompts.Average(p => p.Top5), frechet));
        }
        return results;
    }

    /// <summary>Scores each prompt that has rows, in prompt order.</summary>
    /// <param name="logits">[N, K] judge logits.</param>
    /// <param name="promptOfRow">N prompt indices.</param>
    /// <param name="prompts">The prompt texts, by index.</param>
    /// <param name="reference">The prompts' acceptable classes, parts and the judge's class names.</param>
    public static List<JudgePromptResult> PerPrompt(Tensor logits, IReadOnlyList<int> promptOfRow, IReadOnlyList<string> prompts, JudgeReference reference)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var byPrompt = Rates(logits, promptOfRow, reference);
        if (reference.ClassNames is { } classNames && classNames.Count != logits.shape[1])
            throw new ArgumentException($"{classNames.Count} class names for {logits.shape[1]} judge classes; expected one per class.", nameof(reference));
        long[] first;
        using (var argmax = logits.argmax(1))
            first = argmax.data<long>().ToArray();
        string Name(long id) => reference.ClassNames is { } names ? names[(int)id] : id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return byPrompt.Select(p =>
        {
            var guess = p.Rows.GroupBy(r => first[r]).OrderByDescending(c => c.Count()).ThenBy(c => c.Key).First();
            string part = reference.Parts[p.Prompt] == PromptPart.HeldOut ? "heldout" : "tune";
            return new JudgePromptResult(p.Prompt, prompts[p.Prompt], part, p.Rows.Length, p.Top1, p.Top5, Name(guess.Key), guess.Count() / (double)p.Rows.Length);
        }).ToList();
    }

    /// <summary>Each prompt that has rows, in prompt order, with its rows and the fraction of them that are top-1 and top-5
    /// hits: the per-prompt rates that both the part scores (their mean) and the per-prompt report are made of.</summary>
    static List<(int Prompt, int[] Rows, double Top1, double Top5)> Rates(Tensor logits, IReadOnlyList<int> promptOfRow, JudgeReference reference)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(promptOfRow);
        ArgumentNullException.ThrowIfNull(reference);
        if (promptOfRow.Count != logits.shape[0])
            throw new ArgumentException($"{promptOfRow.Count} prompt indices for {logits.shape[0]} rows; expected one per row.", nameof(promptOfRow));
        var acceptable = promptOfRow.Select(p => reference.Acceptable[p]).ToList();
        var top1 = JudgeAccuracy.Hits(logits, acceptable, 1);
        var top5 = JudgeAccuracy.Hits(logits, acceptable, 5);
        return Enumerable.Range(0, promptOfRow.Count).GroupBy(r => promptOfRow[r]).OrderBy(g => g.Key).Select(g =>
        {
            int[] rows = g.ToArray();
            return (g.Key, rows, rows.Average(r => top1[r] ? 1.0 : 0.0), rows.Average(r => top5[r] ? 1.0 : 0.0));
        }).ToList();
    }
}
