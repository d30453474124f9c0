using Latent.Judge;
using Latent.Judge.Evaluation;
using Latent.Pipeline.Evaluation;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Evaluation;

public class JudgePromptScoresTests
{
    public JudgePromptScoresTests() => TestEnvironment.Init();

    static JudgeReference Reference(EmojiJudge judge, Tensor real) =>
        new(judge, [[0], [1, 2]], [PromptPart.Tune, PromptPart.HeldOut], real, [0, 0, 1, 1]);

    [Fact]
    public void Score_AveragesPerPromptAndSplitsParts()
    {
        using var judge = new EmojiJudge(JudgeConfig.Tiny(3));
        using var real = zeros(4, 3, 16, 16);
        // Rows: prompt 0 has three images (hit, miss, miss), prompt 1 has one (hit through its second class).
        using var logits = tensor(new float[] { 5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 5 }, [4, 3]);
        using var features = tensor(new float[] { 0, 0, 1, 0, 2, 1, 3, 3 }, [4, 2]);
        var scores = JudgePromptScores.Score(logits, features, [0, 0, 0, 1], Reference(judge, real), null);
        Assert.Equal(["all", "tune", "heldout"], scores.Select(s => s.Part));
        Assert.Equal((1 / 3.0 + 1) / 2, scores[0].Top1, 12);   // per-prompt mean, not per-image (2/4)
        Assert.Equal(1 / 3.0, scores[1].Top1, 12);
        Assert.Equal(1.0, scores[2].Top1, 12);
        Assert.Equal(1.0, scores[0].Top5, 12);                  // 3 classes: everything is in the top 5
        Assert.Equal((2, 4), (scores[0].Prompts, scores[0].Images));
        Assert.True(double.IsNaN(scores[0].FrechetDistance));   // no reference features: the real images themselves
    }

    [Fact]
    public void Score_FrechetAgainstThePartsRealImages()
    {
        using var judge = new EmojiJudge(JudgeConfig.Tiny(3));
        using var real = zeros(4, 3, 16, 16);
        using var logits = zeros(4, 3);
        using var features = tensor(new float[] { 0, 0, 2, 2, 0, 0, 2, 2 }, [4, 2]);
        using var realFeatures = tensor(new float[] { 1, 1, 3, 3, 1, 1, 3, 3 }, [4, 2]);
        var scores = JudgePromptScores.Score(logits, features, [0, 0, 1, 1], Reference(judge, real), realFeatures);
        // Same covariance, means one apart in each of 2 dimensions: d² = 2.
        Assert.Equal(2.0, scores[0].FrechetDistance, 6);
        Assert.Equal(2.0, scores[1].FrechetDistance, 6);
    }

    [Fact]
    public void PerPrompt_ScoresEachPromptAndNamesItsMostFrequentGuess()
    {
        using var judge = new EmojiJudge(JudgeConfig.Tiny(3));
        using var real = zeros(4, 3, 16, 16);
        var reference = Reference(judge, real) with { ClassNames = ["cat", "dog", "bee"] };
        // Prompt 0 (acceptable: class 0): guesses 0, 2, 2; prompt 1 (classes 1 and 2): guess 2.
        using var logits = tensor(new float[] { 5, 0, 0, 0, 0, 5, 0, 0, 5, 0, 0, 5 }, [4, 3]);
        var results = JudgePromptScores.PerPrompt(logits, [0, 0, 0, 1], ["a cat", "a bee"], reference);
        Assert.Equal([0, 1], results.Select(r => r.Index));
        Assert.Equal(("a cat", "tune", 3, 1 / 3.0), (results[0].Prompt, results[0].Part, results[0].Images, results[0].Top1));
        Assert.Equal(("bee", 2 / 3.0), (results[0].Guess, results[0].GuessShare));
        Assert.Equal(("a bee", "heldout", 1, 1.0, "bee", 1.0), (results[1].Prompt, results[1].Part, results[1].Images, results[1].Top1, results[1].Guess, results[1].GuessShare));
    }

    [Fact]
    public void PerPrompt_TieGoesToTheLowestClassAndIdsStandInForMissingNames()
    {
        using var judge = new EmojiJudge(JudgeConfig.Tiny(3));
        using var real = zeros(4, 3, 16, 16);
        using var logits = tensor(new float[] { 0, 0, 5, 0, 5, 0 }, [2, 3]);
        var result = Assert.Single(JudgePromptScores.PerPrompt(logits, [1, 1], ["a cat", "a bee"], Reference(judge, real)));
        Assert.Equal(("1", 0.5, 1.0), (result.Guess, result.GuessShare, result.Top1));   // classes 2 and 1 tie; both acceptable
    }

    [Fact]
    public void PerPrompt_RefusesARowCountThatDoesNotMatch()
    {
        using var judge = new EmojiJudge(JudgeConfig.Tiny(3));
        using var real = zeros(4, 3, 16, 16);
        using var logits = zeros(3, 3);
        var e = Assert.Throws<ArgumentException>(() => JudgePromptScores.PerPrompt(logits, [0, 1], ["a", "b"], Reference(judge, real)));
        Assert.Contains("2 prompt indices for 3 rows", e.Message);
    }

    [Fact]
    public void PerPrompt_RefusesClassNamesThatDoNotMatchTheJudge()
    {
        using var judge = new EmojiJudge(JudgeConfig.Tiny(3));
        using var real = zeros(4, 3, 16, 16);
        using var logits = zeros(2, 3);
        var reference = Reference(judge, real) with { ClassNames = ["cat", "dog"] };
        var e = Assert.Throws<ArgumentException>(() => JudgePromptScores.PerPrompt(logits, [0, 1], ["a", "b"], reference));
        Assert.Contains("2 class names for 3 judge classes", e.Message);
    }
}
