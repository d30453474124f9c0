using Latent.Training.TextEncoder;
using TorchSharp;
using static TorchSharp.torch;
using Latent.TextEncoder;

namespace Latent.Training.Tests.TextEncoder;

public class ClipContrastiveLossTests
{
    [Fact]
    public void Compute_WithoutMask_EqualsClipModelLoss()
    {
        using var generator = new Generator(3);
        using var image = randn(new long[] { 5, 8 }, generator: generator);
        using var text = randn(new long[] { 5, 8 }, generator: generator);
        using var scale = tensor(7.5f);
        using var expected = ClipModel.ContrastiveLoss(image, text, scale);
        using var noMask = ClipContrastiveLoss.Compute(image, text, scale);
        using var emptyMask = zeros(new long[] { 5, 5 }, ScalarType.Bool);
        using var withEmptyMask = ClipContrastiveLoss.Compute(image, text, scale, emptyMask);
        Assert.Equal(expected.item<float>(), noMask.item<float>());
        Assert.Equal(expected.item<float>(), withEmptyMask.item<float>());
    }

    [Fact]
    public void Compute_MaskedDuplicate_MatchesHandComputation()
    {
        // Pairs 0 and 1 are the same emoji (identical embeddings e1), pair 2 is e2; s = 2.
        // Unmasked, row 0 sees logits [2, 2, 0]: the duplicate costs log 2. Masked, rows 0 and 1 see [2, 0] only.
        using var image = tensor(new float[,] { { 1, 0 }, { 1, 0 }, { 0, 1 } });
        using var text = image.clone();
        using var scale = tensor(2f);
        using var mask = ClipContrastiveLoss.Mask(["a", "a", "b"]);
        using var loss = ClipContrastiveLoss.Compute(image, text, scale, mask);
        double row = Math.Log(1 + Math.Exp(-2));                 // -log softmax([2, 0])[0]
        double last = Math.Log(1 + 2 * Math.Exp(-2));           // row 2: [0, 0, 2] -> label 2
        double expected = (2 * row + last) / 3;                 // symmetric matrix: both directions equal
        Assert.Equal(expected, loss.item<float>(), 5);
        using var unmasked = ClipContrastiveLoss.Compute(image, text, scale);
        Assert.True(unmasked.item<float>() > loss.item<float>() + 0.3, "masking the duplicate did not lower the loss");
    }

    [Fact]
    public void Compute_WithMask_GradientsAreFinite()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(4);
        using var image = randn(new long[] { 4, 6 }, generator: generator).requires_grad_();
        using var text = randn(new long[] { 4, 6 }, generator: generator).requires_grad_();
        using var scale = tensor(3f).requires_grad_();
        using var mask = ClipContrastiveLoss.Mask(["x", "y", "x", "y"]);
        using var loss = ClipContrastiveLoss.Compute(image, text, scale, mask);
        loss.backward();
        Assert.True(image.grad!.isfinite().all().item<bool>());
        Assert.True(text.grad!.isfinite().all().item<bool>());
        Assert.True(scale.grad!.isfinite().all().item<bool>());
    }

    [Fact]
    public void Compute_MaskOnDiagonal_Throws()
    {
        using var image = ones(2, 3);
        using var text = ones(2, 3);
        using var scale = tensor(1f);
        using var mask = eye(2, dtype: ScalarType.Bool);
        var e = Assert.Throws<ArgumentException>(() => ClipContrastiveLoss.Compute(image, text, scale, mask));
        Assert.Contains("diagonal", e.Message);
    }

    [Fact]
    public void Compute_MaskOfWrongShape_Throws()
    {
        using var image = ones(2, 3);
        using var text = ones(2, 3);
        using var scale = tensor(1f);
        using var mask = zeros(new long[] { 3, 3 }, ScalarType.Bool);
        var e = Assert.Throws<ArgumentException>(() => ClipContrastiveLoss.Compute(image, text, scale, mask));
        Assert.Contains("[2, 2]", e.Message);
        Assert.Contains("[3, 3]", e.Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void ComputeOnShare_RanksGradientsSumToOneProcesssGradient(int ranks)
    {
        using var scope = NewDisposeScope();
        // Two "towers" (a matrix each) and a logit scale; batch 5 with a masked duplicate pair, shared by the ranks.
        using var generator = new Generator(11);
        using var imageIn = randn(new long[] { 5, 4 }, generator: generator);
        using var textIn = randn(new long[] { 5, 4 }, generator: generator);
        using var imageW = randn(new long[] { 4, 6 }, generator: generator).requires_grad_();
        using var textW = randn(new long[] { 4, 6 }, generator: generator).requires_grad_();
        using var logit = tensor(1.5f).requires_grad_();
        using var mask = ClipContrastiveLoss.Mask(["a", "b", "a", "c", "d"]);

        using var whole = ClipContrastiveLoss.Compute(imageIn.matmul(imageW), textIn.matmul(textW), logit.exp(), mask);
        whole.backward();
        var expected = new[] { imageW.grad!.clone(), textW.grad!.clone(), logit.grad!.clone() };
        foreach (var p in new[] { imageW, textW, logit }) p.grad!.zero_();

        using var imageAll = imageIn.matmul(imageW).detach();   // what the all-gather returns
        using var textAll = textIn.matmul(textW).detach();
        for (int r = 0; r < ranks; r++)
        {
            var share = Latent.Core.Training.BatchShare.Of(5, r, ranks);
            using var imageShare = imageIn.narrow(0, share.Start, share.Count).matmul(imageW);
            using var textShare = textIn.narrow(0, share.Start, share.Count).matmul(textW);
            using var loss = ClipContrastiveLoss.ComputeOnShare(imageShare, textShare, imageAll, textAll, share, ranks, logit.exp(), mask);
            Assert.Equal(whole.item<float>(), loss.item<float>(), 6);   // every rank computes the whole batch's loss
            loss.backward();   // accumulates: the sum over the ranks, as the all-reduce does
        }
        var actual = new[] { imageW.grad!, textW.grad!, logit.grad! };
        for (int i = 0; i < 3; i++)
        {
            float diff = (actual[i] - expected[i]).abs().max().item<float>();
            Assert.True(diff < 1e-5f, $"gradient {i} differs from one process's by {diff}");
            expected[i].Dispose();
        }
    }

    [Fact]
    public void ComputeOnShare_ShareOutsideTheBatch_Throws()
    {
        using var all = zeros(4, 3);
        using var rows = zeros(2, 3);
        using var scale = tensor(1f);
        var e = Assert.Throws<ArgumentException>(() => ClipContrastiveLoss.ComputeOnShare(rows, rows, all, all, new(3, 2), 2, scale));
        Assert.Contains("rows [3, 5) do not fit", e.Message);
    }
}
