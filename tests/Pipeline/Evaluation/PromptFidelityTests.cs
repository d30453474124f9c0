using Latent.Pipeline.Evaluation;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Evaluation;

public class PromptFidelityTests
{
    [Fact]
    public void CountsImagesWhoseOwnCaptionIsNearest()
    {
        using var scope = NewDisposeScope();
        var captions = eye(3);                                                         // candidates e0, e1, e2
        var images = nn.functional.normalize(tensor(new float[,] { { 1, 0.2f, 0 }, { 0.1f, 1, 0 }, { 0.9f, 0, 0.3f } }), dim: 1);
        // nearest: 0, 1, 0; targets 0, 1, 2 -> two of three
        Assert.Equal(2.0 / 3, PromptFidelity.TopOne(images, captions, [0, 1, 2]), 9);
        Assert.Equal(1.0, PromptFidelity.TopOne(images, captions, [0, 1, 0]), 9);
    }

    [Fact]
    public void BadTargets_NameTheProblem()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => PromptFidelity.TopOne(eye(2), eye(2), [0]));
        Assert.Contains("1 targets for 2 images", e.Message);
        e = Assert.Throws<ArgumentException>(() => PromptFidelity.TopOne(eye(2), eye(2), [0, 2]));
        Assert.Contains("target 2", e.Message);
    }
}
