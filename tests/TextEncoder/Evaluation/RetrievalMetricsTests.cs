using Latent.TextEncoder.Evaluation;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Tests.Evaluation;

public class RetrievalMetricsTests
{
    // Rows are queries, columns items. Query 0 ranks its item first; query 1 ranks it second; query 2 ranks it last (3rd).
    static Tensor Similarity() => tensor(new float[,]
    {
        { 0.9f, 0.1f, 0.2f },
        { 0.8f, 0.5f, 0.1f },
        { 0.7f, 0.6f, 0.0f },
    });

    [Fact]
    public void RecallAtK_Diagonal_MatchesHandCount()
    {
        using var s = Similarity();
        Assert.Equal(1.0 / 3, RetrievalMetrics.RecallAtK(s, 1), 12);
        Assert.Equal(2.0 / 3, RetrievalMetrics.RecallAtK(s, 2), 12);
        Assert.Equal(1.0, RetrievalMetrics.RecallAtK(s, 3), 12);
    }

    [Fact]
    public void RecallAtK_Transposed_IsImageToText()
    {
        using var s = Similarity();
        using var t = s.t();
        // Item 0's best query is 0 (0.9); item 1's is 2 (0.6), its own query 1 second; item 2's is 0 (0.2), own query 2 last.
        Assert.Equal(1.0 / 3, RetrievalMetrics.RecallAtK(t, 1), 12);
        Assert.Equal(2.0 / 3, RetrievalMetrics.RecallAtK(t, 2), 12);
    }

    [Fact]
    public void RecallAtK_SameGroupCountsAsHit()
    {
        // Items 0 and 1 show the same emoji (group 7): query 1 picking item 0 is then right.
        using var s = Similarity();
        using var relevant = RetrievalMetrics.SameGroup([7, 7, 8], [7, 7, 8]);
        Assert.Equal(2.0 / 3, RetrievalMetrics.RecallAtK(s, relevant, 1), 12);
    }

    [Fact]
    public void RecallAtK_KOutOfRange_Throws()
    {
        using var s = Similarity();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RetrievalMetrics.RecallAtK(s, 4));
        Assert.Contains("N = 3", e.Message);
    }

    [Fact]
    public void RecallAtK_QueryWithoutRelevantItem_Throws()
    {
        using var s = Similarity();
        using var relevant = RetrievalMetrics.SameGroup([1, 2, 9], [1, 2, 3]);
        Assert.Throws<ArgumentException>(() => RetrievalMetrics.RecallAtK(s, relevant, 1));
    }

    [Fact]
    public void ZeroShotAccuracy_MatchesHandCount()
    {
        // 4 images x 3 classes: argmax 0, 2, 1, 1.
        using var s = tensor(new float[,] { { 3, 1, 2 }, { 0, 1, 2 }, { 0, 5, 1 }, { 1, 2, 0 } });
        Assert.Equal(0.75, RetrievalMetrics.ZeroShotAccuracy(s, [0, 2, 1, 0]), 12);
    }

    [Fact]
    public void ZeroShotAccuracy_LabelOutOfRange_Throws()
    {
        using var s = zeros(2, 3);
        var e = Assert.Throws<ArgumentException>(() => RetrievalMetrics.ZeroShotAccuracy(s, [0, 3]));
        Assert.Contains("label 3", e.Message);
        Assert.Contains("C = 3", e.Message);
    }
}
