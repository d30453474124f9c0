using System.Diagnostics;
using Latent.Judge.Evaluation;
using Latent.TextEncoder;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder.Tokenization;
using static TorchSharp.torch;

namespace Latent.Pipeline.Evaluation;

/// <summary>
/// Scores a text-to-image pipeline with a CLIP (ours: the image tower trained with the text encoder): prompt fidelity
/// against the real-image ceiling, and the Fréchet distance of CLIP image embeddings to real images, per guidance scale.
/// </summary>
/// <remarks>
/// <para>Fidelity: every image is ranked against all candidate captions, the distinct real captions plus the prompts
/// (a prompt that is no real caption is added, so it can be found); a hit is its own caption first. The real images
/// scored the same way against their captions give the ceiling: what a generator whose images were indistinguishable
/// from the data would reach with this CLIP.</para>
/// <para>Fréchet distance: on the unit-norm projected embeddings (P-dimensional), a CLIP analogue of FID; only
/// comparable between runs with the same CLIP, prompts and image counts, since the estimate is biased by N.</para>
/// <para>Every scale uses the same seeds and batches, so the scales differ only in the guidance.</para>
/// </remarks>
public static class TextToImageEvaluator
{
    /// <summary>Generates every prompt at every scale and scores the images.</summary>
    /// <param name="pipeline">The pipeline to evaluate.</param>
    /// <param name="clip">The scoring CLIP (its image tower and text encoder).</param>
    /// <param name="tokenizer">The CLIP's tokenizer.</param>
    /// <param name="realImages">[N, 3, S, S] real images in [-1, 1] at the tower's size S, N ≥ 2.</param>
    /// <param name="realCaptions">N captions, one per real image.</param>
    /// <param name="options">What to generate; validated.</param>
    /// <param name="progress">Reports after each pipeline call.</param>
    /// <param name="onBatch">Sees each call's images before scoring (e.g. to draw a grid).</param>
    /// <param name="cancellationToken">Stops between denoising steps.</param>
    /// <param name="judge">When given, the emoji judge also scores every image against the prompts' acceptable emoji
    /// (top-1/top-5 and the Fréchet distance of its features), next to the same scores of real renderings.</param>
    /// <exception cref="ArgumentException">An option is out of range, or the real images and captions disagree.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static TextToImageEvaluation Evaluate(StableDiffusionPipeline pipeline, ClipModel clip, ClipTokenizer tokenizer,
        Tensor realImages, IReadOnlyList<string> realCaptions, TextToImageEvalOptions options,
        IProgress<TextToImageEvalProgress>? progress = null, Action<GeneratedBatch>? onBatch = null,
        CancellationToken cancellationToken = default, JudgeReference? judge = null)
    {
        // 1. Validate.
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(clip);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(realImages);
        ArgumentNullException.ThrowIfNull(realCaptions);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int size = clip.ImageConfig.ImageSize;
        if (realImages.dim() != 4 || realImages.shape[0] < 2 || realImages.shape[1] != 3 || realImages.shape[2] != size || realImages.shape[3] != size)
            throw new ArgumentException(
                $"real images must be [N ≥ 2, 3, {size}, {size}] (the image tower's size); got [{string.Join(", ", realImages.shape)}].", nameof(realImages));
        if (realCaptions.Count != realImages.shape[0])
            throw new ArgumentException($"{realCaptions.Count} captions for {realImages.shape[0]} real images; expected one each.", nameof(realCaptions));
        if (judge is not null)
        {
            if (judge.Acceptable.Count != options.Prompts.Count || judge.Parts.Count != options.Prompts.Count)
                throw new ArgumentException($"the judge reference has {judge.Acceptable.Count} acceptable sets and {judge.Parts.Count} parts for {options.Prompts.Count} prompts; expected one each.", nameof(judge));
            if (judge.RealImages.dim() != 4 || judge.RealImages.shape[0] < 2 || judge.RealPrompt.Count != judge.RealImages.shape[0])
                throw new ArgumentException($"the judge reference needs [M ≥ 2, 3, S, S] real images and one prompt index each; got [{string.Join(", ", judge.RealImages.shape)}] and {judge.RealPrompt.Count}.", nameof(judge));
            if (judge.RealPrompt.Any(p => p < 0 || p >= options.Prompts.Count))
                throw new ArgumentException($"a real image's prompt index is outside [0, {options.Prompts.Count}).", nameof(judge));
        }

        var clock = Stopwatch.StartNew();
        bool wasTraining = clip.training;
        clip.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var inference = inference_mode();

            // 2. Candidate captions: the distinct real captions, then any prompt that is not one of them.
            var candidates = new List<string>();
            var indexOf = new Dictionary<string, int>(StringComparer.Ordinal);
            int Candidate(string text) => indexOf.TryGetValue(text, out int i) ? i : (indexOf[text] = AddCandidate(candidates, text));
            var realTargets = realCaptions.Select(Candidate).ToList();
            var promptTargets = options.Prompts.Select(Candidate).ToList();
            var captionEmbeddings = ClipEvaluator.EncodeTexts(clip, tokenizer, candidates, 64);            // [C, P]

            // 3. The ceiling and the reference features: the real images.
            var realEmbeddings = ClipEvaluator.EncodeImages(clip, realImages, 64);                         // [N, P]
            double ceiling = PromptFidelity.TopOne(realEmbeddings, captionEmbeddings, realTargets);
            Tensor? judgeRealFeatures = null;
            List<JudgePartScores>? judgeCeiling = null;
            if (judge is not null)
            {
                var (realLogits, realFeatures) = JudgeScoring.Score(judge.Judge, judge.RealImages);
                judgeRealFeatures = realFeatures;
                judgeCeiling = JudgePromptScores.Score(realLogits, realFeatures, judge.RealPrompt, judge, null);
            }
            var judgeScales = new List<JudgeScaleScores>();

            // 4. Generate and score each scale with the same seeds and batches.
            int perScale = options.Prompts.Count * options.SeedsPerPrompt;
            int total = perScale * options.GuidanceScales.Count, done = 0;
            var scores = new List<GuidanceScaleScores>();
            foreach (double scale in options.GuidanceScales)
            {
                var embeddings = new List<Tensor>();
                var targets = new List<int>();
                var judgeLogits = new List<Tensor>();
                var judgeFeatures = new List<Tensor>();
                var judgeRows = new List<int>();
                for (int seed = 0; seed < options.SeedsPerPrompt; seed++)
                    for (int first = 0; first < options.Prompts.Count; first += options.BatchSize)
                    {
                        using var batchScope = NewDisposeScope();
                        var prompts = options.Prompts.Skip(first).Take(options.BatchSize).ToList();
                        var cached = CachedPaths(options.ImageCache, scale, seed, first, prompts.Count);
                        Tensor images;                                                                  // [b, 3, H, W]
                        if (cached is not null && cached.All(File.Exists))
                            images = stack(cached.Select(p => Core.Imaging.ImageIO.Load(p)).ToList(), 0);
                        else
                        {
                            using var result = pipeline.Generate(new GenerationRequest
                            {
                                Prompts = prompts,
                                GuidanceScale = scale,
                                Steps = options.Steps,
                                Scheduler = options.Scheduler,
                                Seed = options.Seed + seed,
                                ClassifierGuidance = options.ClassifierGuidance?.Invoke(first, prompts.Count),   // issue 25
                            }, cancellationToken: cancellationToken);
                            images = result.Images.to(ScalarType.Float32).clone();                    // outlives the result
                            if (cached is not null)
                                for (int i = 0; i < cached.Count; i++)
                                {
                                    Directory.CreateDirectory(Path.GetDirectoryName(cached[i])!);
                                    Core.Imaging.ImageIO.SavePng(images[i], cached[i]);
                                }
                        }
                        onBatch?.Invoke(new GeneratedBatch(scale, seed, first, images));
                        embeddings.Add(ClipEvaluator.EncodeImages(clip, ToTowerSize(images, size), 64).MoveToOuterDisposeScope());
                        targets.AddRange(promptTargets.Skip(first).Take(prompts.Count));
                        if (judge is not null)
                        {
                            var (l, f) = JudgeScoring.Score(judge.Judge, images);
                            judgeLogits.Add(l.MoveToOuterDisposeScope());
                            judgeFeatures.Add(f.MoveToOuterDisposeScope());
                            judgeRows.AddRange(Enumerable.Range(first, prompts.Count));
                        }
                        done += prompts.Count;
                        progress?.Report(new TextToImageEvalProgress(scale, done, total));
                    }
                var generated = cat(embeddings, 0);                                                         // [perScale, P]
                double fidelity = PromptFidelity.TopOne(generated, captionEmbeddings, targets);
                double frechet = FrechetDistance.Compute(generated, realEmbeddings);
                scores.Add(new GuidanceScaleScores(scale, perScale, fidelity, ceiling > 0 ? fidelity / ceiling : double.NaN, frechet));
                if (judge is not null)
                {
                    var logits = cat(judgeLogits, 0);                                                       // [perScale, K]
                    judgeScales.Add(new JudgeScaleScores(scale, JudgePromptScores.Score(logits, cat(judgeFeatures, 0), judgeRows, judge, judgeRealFeatures),
                        JudgePromptScores.PerPrompt(logits, judgeRows, options.Prompts, judge)));
                }
            }
            var judged = judge is null ? null : new JudgeEvaluation(judge.RealImages.shape[0] is var m ? (int)m : 0, judgeCeiling!, judgeScales);
            return new TextToImageEvaluation(options.Prompts.Count, candidates.Count, (int)realImages.shape[0], ceiling, scores,
                clock.Elapsed.TotalSeconds) { Judge = judged };
        }
        finally
        {
            if (wasTraining) clip.train();
        }
    }

    // The cache files of one batch, or null without a cache.
    static List<string>? CachedPaths(string? folder, double scale, int seed, int first, int count) =>
        folder is null ? null : Enumerable.Range(first, count).Select(p => Path.Combine(folder,
            $"cfg-{scale.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}", $"seed-{seed}", $"{p:D4}.png")).ToList();

    static int AddCandidate(List<string> candidates, string text)
    {
        candidates.Add(text);
        return candidates.Count - 1;
    }

    // [b, 3, H, W] -> [b, 3, S, S]: antialiased bilinear resize when the pipeline's size is not the tower's.
    static Tensor ToTowerSize(Tensor images, int size) =>
        images.shape[2] == size && images.shape[3] == size
            ? images
            : nn.functional.interpolate(images, [size, size], mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
}
