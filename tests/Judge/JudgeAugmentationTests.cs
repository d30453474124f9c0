using Latent.Core.Engine;
using static TorchSharp.torch;

namespace Latent.Judge.Tests;

public class JudgeAugmentationTests
{
    public JudgeAugmentationTests() => TestEnvironment.Init();

    static Tensor Images()
    {
        using var scope = NewDisposeScope();
        return rand([4, 3, 16, 16], generator: new Generator(9)).mul(Scalars.Of(2.0)).sub(Scalars.One).MoveToOuterDisposeScope();
    }

    [Fact]
    public void Apply_SameSeed_SameImages()
    {
        using var scope = NewDisposeScope();
        using var x = Images();
        using var a = JudgeAugmentation.Apply(x, new AugmentationOptions(), new Generator(1));
        using var b = JudgeAugmentation.Apply(x, new AugmentationOptions(), new Generator(1));
        using var c = JudgeAugmentation.Apply(x, new AugmentationOptions(), new Generator(2));
        Assert.True(a.equal(b).all().item<bool>());
        Assert.False(a.equal(c).all().item<bool>());
    }

    [Fact]
    public void Apply_KeepsShapeAndRange_AndLeavesInputAlone()
    {
        using var scope = NewDisposeScope();
        using var x = Images();
        using var before = x.clone();
        using var y = JudgeAugmentation.Apply(x, new AugmentationOptions(BlurProbability: 1, BackgroundProbability: 1), new Generator(3));
        Assert.Equal(x.shape, y.shape);
        Assert.True(y.ge(Scalars.Of(-1.0)).all().item<bool>() && y.le(Scalars.One).all().item<bool>());
        Assert.True(x.equal(before).all().item<bool>());
    }

    [Fact]
    public void Apply_None_IsTheIdentity()
    {
        using var x = Images();
        using var y = JudgeAugmentation.Apply(x, AugmentationOptions.None, new Generator(4));
        Assert.True(x.allclose(y, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void Apply_NeverMirrors()
    {
        using var scope = NewDisposeScope();
        // A left-heavy image stays left-heavy under every distortion (no flips: direction can be an emoji's meaning).
        using var x = ones(8, 3, 16, 16);
        x.narrow(3, 0, 5).fill_(Scalars.Of(-1.0));
        using var y = JudgeAugmentation.Apply(x, new AugmentationOptions(BackgroundProbability: 0), new Generator(5));
        using var left = y.narrow(3, 0, 8).mean([1L, 2L, 3L]);
        using var right = y.narrow(3, 8, 8).mean([1L, 2L, 3L]);
        Assert.True(left.lt(right).all().item<bool>());
    }
}
