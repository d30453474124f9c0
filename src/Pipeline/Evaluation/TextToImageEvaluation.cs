using System.Text.Json.Nodes;

namespace Latent.Pipeline.Evaluation;

/// <summary>The scores of one guidance scale.</summary>
/// <param name="GuidanceScale">The scale.</param>
/// <param name="Images">Generated images scored.</param>
/// <param name="Fidelity">Fraction of generated images whose prompt is the CLIP's top-1 caption among the candidates.</param>
/// <param name="RelativeFidelity">Fidelity over the real-image ceiling (the target: ≥ 0.8 at 7.5).</param>
/// <param name="FrechetDistance">Fréchet distance between the CLIP image embeddings of the generated and the real images.</param>
public sealed record GuidanceScaleScores(double GuidanceScale, int Images, double Fidelity, double RelativeFidelity, double FrechetDistance);

/// <summary>What <see cref="TextToImageEvaluator"/> measured.</summary>
/// <param name="Prompts">Prompts generated from.</param>
/// <param name="Candidates">Distinct captions every image is ranked against (the real captions and the prompts).</param>
/// <param name="RealImages">Real images: the ceiling's and the Fréchet reference's.</param>
/// <param name="CeilingFidelity">The same top-1 score for the real images against their own captions.</param>
/// <param name="Scales">One entry per guidance scale, in the options' order.</param>
/// <param name="Seconds">Wall time of the generation and scoring.</param>
public sealed record TextToImageEvaluation(int Prompts, int Candidates, int RealImages, double CeilingFidelity,
    IReadOnlyList<GuidanceScaleScores> Scales, double Seconds)
{
    /// <summary>The emoji judge's scores, when a judge reference was given.</summary>
    public JudgeEvaluation? Judge { get; init; }

    /// <summary>The metrics as a JSON object (snake_case keys).</summary>
    public JsonObject ToJson()
    {
        var scales = new JsonArray();
        foreach (var s in Scales)
            scales.Add(new JsonObject
            {
                ["guidance_scale"] = s.GuidanceScale,
                ["images"] = s.Images,
                ["fidelity"] = s.Fidelity,
                ["relative_fidelity"] = s.RelativeFidelity,
                ["frechet_distance"] = s.FrechetDistance,
            });
        return new JsonObject
        {
            ["prompts"] = Prompts,
            ["candidates"] = Candidates,
            ["real_images"] = RealImages,
            ["ceiling_fidelity"] = CeilingFidelity,
            ["scales"] = scales,
            ["seconds"] = Seconds,
            ["judge"] = Judge?.ToJson(),
        };
    }
}

/// <summary>The judge's scores of one guidance scale, per part of the prompt list.</summary>
/// <param name="GuidanceScale">The scale.</param>
/// <param name="Parts">"all", "tune", "heldout".</param>
/// <param name="Prompts">Each prompt's scores, in prompt order.</param>
public sealed record JudgeScaleScores(double GuidanceScale, IReadOnlyList<JudgePartScores> Parts, IReadOnlyList<JudgePromptResult> Prompts);

/// <summary>What the emoji judge measured: the real-image ceiling and each scale, per part.</summary>
/// <param name="RealImages">Real renderings scored (the ceiling and the Fréchet reference).</param>
/// <param name="Ceiling">The real renderings' scores per part (their Fréchet distance is the reference, NaN).</param>
/// <param name="Scales">One entry per guidance scale.</param>
public sealed record JudgeEvaluation(int RealImages, IReadOnlyList<JudgePartScores> Ceiling, IReadOnlyList<JudgeScaleScores> Scales)
{
    /// <summary>As JSON.</summary>
    public JsonObject ToJson()
    {
        var scales = new JsonArray();
        foreach (var s in Scales)
            scales.Add(new JsonObject
            {
                ["guidance_scale"] = s.GuidanceScale,
                ["parts"] = new JsonArray(s.Parts.Select(p => (JsonNode)p.ToJson()).ToArray()),
                ["per_prompt"] = new JsonArray(s.Prompts.Select(p => (JsonNode)p.ToJson()).ToArray()),
            });
        return new JsonObject
        {
            ["real_images"] = RealImages,
            ["ceiling"] = new JsonArray(Ceiling.Select(p => (JsonNode)p.ToJson()).ToArray()),
            ["scales"] = scales,
        };
    }
}

/// <summary>Progress of an evaluation: images generated so far at the current scale.</summary>
/// <param name="GuidanceScale">The scale being generated.</param>
/// <param name="Done">Images generated over all scales.</param>
/// <param name="Total">Images to generate over all scales.</param>
public sealed record TextToImageEvalProgress(double GuidanceScale, int Done, int Total);

/// <summary>One pipeline call's images, handed to the caller (e.g. for a comparison grid) before they are scored.</summary>
/// <param name="GuidanceScale">The scale.</param>
/// <param name="SeedIndex">0 for the first seed.</param>
/// <param name="FirstPrompt">Index of the batch's first prompt.</param>
/// <param name="Images">[b, 3, H, W] in [-1, 1]; owned by the evaluator (copy what you keep).</param>
public sealed record GeneratedBatch(double GuidanceScale, int SeedIndex, int FirstPrompt, TorchSharp.torch.Tensor Images);
