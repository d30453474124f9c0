using Latent.TextEncoder.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Tests.Training;

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
}
