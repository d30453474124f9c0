using Latent.Pipeline.Evaluation;
using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Evaluation;

public class TextToImageEvaluatorTests(ParityPipelineFixture fixture) : IClassFixture<ParityPipelineFixture>
{
    static readonly string[] Captions = ["a cat", "a dog", "a red apple", "a rocket", "a tree", "a cat"];

    static (ClipModel Clip, ClipTokenizer Tokenizer, Tensor Real) Scorer()
    {
        manual_seed(11);
        var clip = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny);
        var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(TestEnvironment.Parity, "tokenizer"));
        var real = TestTensors.UniformPixels([Captions.Length, 3, 16, 16]);            // [6, 3, 16, 16]
        return (clip, tokenizer, real);
    }

    static TextToImageEvalOptions Options(params double[] scales) => new()
    {
        Prompts = ["a cat", "a rocket", "a blue hat"],
        GuidanceScales = scales,
        SeedsPerPrompt = 2,
        Steps = 3,
        Scheduler = SchedulerKind.Ddim,
        BatchSize = 2,
        Seed = 4,
    };

    [Fact]
    public void ScoresEveryScale_WithTheSameSeedsAndBatches()
    {
        using var scope = NewDisposeScope();
        var (clip, tokenizer, real) = Scorer();
        using var _ = clip;
        var batches = new List<(double Scale, int Seed, int First, long Count)>();
        var result = TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, Options(1.0, 1.0, 5.0),
            onBatch: b => batches.Add((b.GuidanceScale, b.SeedIndex, b.FirstPrompt, b.Images.shape[0])));

        // 5 distinct real captions + "a blue hat"; 3 prompts x 2 seeds per scale in batches of 2 and 1.
        Assert.Equal(6, result.Candidates);
        Assert.Equal(6, result.RealImages);
        Assert.Equal(3, result.Scales.Count);
        Assert.All(result.Scales, s => Assert.Equal(6, s.Images));
        Assert.Equal(12, batches.Count);
        Assert.Equal([(1.0, 0, 0, 2L), (1.0, 0, 2, 1L), (1.0, 1, 0, 2L), (1.0, 1, 2, 1L)], batches.Take(4));
        Assert.InRange(result.CeilingFidelity, 0, 1);

        // Two runs of the same scale see the same images, so their scores are equal; guidance changes the images.
        Assert.Equal(result.Scales[0].Fidelity, result.Scales[1].Fidelity);
        Assert.Equal(result.Scales[0].FrechetDistance, result.Scales[1].FrechetDistance);
        Assert.NotEqual(result.Scales[0].FrechetDistance, result.Scales[2].FrechetDistance);
        Assert.All(result.Scales, s => Assert.True(double.IsFinite(s.FrechetDistance) && s.FrechetDistance > -1e-6, $"Fréchet {s.FrechetDistance}"));
    }

    [Fact]
    public void SameInputs_GiveTheSameNumbers()
    {
        using var scope = NewDisposeScope();
        var (clip, tokenizer, real) = Scorer();
        using var _ = clip;
        var first = TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, Options(2.0));
        var second = TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, Options(2.0));
        Assert.Equal(first.Scales[0], second.Scales[0]);
        Assert.Equal(first.CeilingFidelity, second.CeilingFidelity);
    }

    [Fact]
    public void ImageCache_SecondRunReadsTheSavedImages()
    {
        using var scope = NewDisposeScope();
        var (clip, tokenizer, real) = Scorer();
        using var _ = clip;
        string cache = TestEnvironment.NewTempDir();
        var options = Options(2.0) with { ImageCache = cache };
        var first = TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, options);
        Assert.Equal(6, Directory.GetFiles(cache, "*.png", SearchOption.AllDirectories).Length);   // 3 prompts x 2 seeds
        Assert.True(File.Exists(Path.Combine(cache, "cfg-2", "seed-1", "0002.png")));
        foreach (string png in Directory.GetFiles(cache, "*.png", SearchOption.AllDirectories)) File.SetLastWriteTimeUtc(png, DateTime.UnixEpoch);
        var second = TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, options);
        var third = TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, options);
        Assert.Equal(second.Scales[0], third.Scales[0]);                       // read, not generated: the same 8-bit images
        Assert.All(Directory.GetFiles(cache, "*.png", SearchOption.AllDirectories), f => Assert.Equal(DateTime.UnixEpoch, File.GetLastWriteTimeUtc(f)));
        Assert.Equal(first.Scales[0].Images, second.Scales[0].Images);
    }

    [Fact]
    public void BadInputs_NameTheProblem()
    {
        using var scope = NewDisposeScope();
        var (clip, tokenizer, real) = Scorer();
        using var _ = clip;
        var e = Assert.Throws<ArgumentException>(() =>
            TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions.Take(5).ToList(), Options(1.0)));
        Assert.Contains("5 captions for 6 real images", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, rand(6, 3, 8, 8), Captions, Options(1.0)));
        Assert.Contains("[N ≥ 2, 3, 16, 16]", e.Message);
        e = Assert.Throws<ArgumentException>(() =>
            TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, Options(1.0) with { Prompts = ["a cat", " "] }));
        Assert.Contains("prompt 2 is empty", e.Message);
    }

    [Fact]
    public void Judge_ReportsEachPartAndEachPromptAtEveryScale()
    {
        using var scope = NewDisposeScope();
        var (clip, tokenizer, real) = Scorer();
        using var _ = clip;
        manual_seed(3);
        using var judge = new Latent.Judge.EmojiJudge(Latent.Judge.JudgeConfig.Tiny(4));
        var reference = new JudgeReference(judge, [[0], [1, 2], [3]],
            [Latent.Judge.Evaluation.PromptPart.Tune, Latent.Judge.Evaluation.PromptPart.HeldOut, Latent.Judge.Evaluation.PromptPart.Tune],
            TestTensors.UniformPixels([3, 3, 16, 16]), [0, 1, 2], ["cat", "rocket", "ship", "hat"]);
        var result = TextToImageEvaluator.Evaluate(fixture.Pipeline, clip, tokenizer, real, Captions, Options(1.0, 5.0), judge: reference);

        var judged = Assert.IsType<JudgeEvaluation>(result.Judge);
        Assert.Equal([1.0, 5.0], judged.Scales.Select(s => s.GuidanceScale));
        foreach (var s in judged.Scales)
        {
            Assert.Equal(["all", "tune", "heldout"], s.Parts.Select(p => p.Part));
            Assert.Equal(["a cat", "a rocket", "a blue hat"], s.Prompts.Select(p => p.Prompt));
            Assert.Equal(["tune", "heldout", "tune"], s.Prompts.Select(p => p.Part));
            Assert.All(s.Prompts, p => Assert.Equal(2, p.Images));                                // two seeds each
            Assert.All(s.Prompts, p => Assert.Contains(p.Guess, new[] { "cat", "rocket", "ship", "hat" }));
            Assert.Equal(s.Parts[0].Top1, s.Prompts.Average(p => p.Top1), 12);                   // "all" is the per-prompt mean
        }
        var json = result.ToJson()["judge"]!["scales"]![1]!["per_prompt"]!.AsArray();
        Assert.Equal("a rocket", (string?)json[1]!["prompt"]);
        Assert.Equal(5.0, (double)result.ToJson()["judge"]!["scales"]![1]!["guidance_scale"]!);
    }
}
