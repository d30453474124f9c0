using Latent.Judge.Evaluation;
using static TorchSharp.torch;

namespace Latent.Judge.Tests.Evaluation;

public class JudgeAccuracyTests
{
    public JudgeAccuracyTests() => TestEnvironment.Init();

    // Three images over six classes; by hand: image 0 ranks 2 > 0 > 1 > ..., image 1 ranks 5 first, image 2 ranks 0 last.
    static Tensor Logits() => tensor(new float[]
    {
        0.5f, 0.4f, 0.9f, 0.1f, 0.0f, -1f,
        0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f,
        -5f, 1f, 2f, 3f, 4f, 5f,
    }, [3, 6]);

    [Fact]
    public void TopK_CountsAnyAcceptableClass()
    {
        using var logits = Logits();
        IReadOnlyCollection<int>[] acceptable = [[0, 2], [4], [0]];
        Assert.Equal([true, false, false], JudgeAccuracy.Hits(logits, acceptable, 1));
        Assert.Equal(1 / 3.0, JudgeAccuracy.TopK(logits, acceptable, 1), 12);
        Assert.Equal([true, true, false], JudgeAccuracy.Hits(logits, acceptable, 5));
        Assert.Equal(2 / 3.0, JudgeAccuracy.TopK(logits, acceptable, 5), 12);
        Assert.Equal(1.0, JudgeAccuracy.TopK(logits, acceptable, 6), 12);
    }

    [Fact]
    public void Hits_ThrowsForOutOfRangeClass()
    {
        using var logits = Logits();
        var e = Assert.Throws<ArgumentException>(() => JudgeAccuracy.Hits(logits, [[0], [6], [1]], 1));
        Assert.Contains("image 1: class 6 is outside [0, 6)", e.Message);
    }

    [Fact]
    public void Hits_ThrowsForCountMismatch()
    {
        using var logits = Logits();
        Assert.Throws<ArgumentException>(() => JudgeAccuracy.Hits(logits, [[0]], 1));
    }
}
