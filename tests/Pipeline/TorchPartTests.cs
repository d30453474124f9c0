using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

/// <summary>A LibTorch module built on first use, freed, and built again.</summary>
public class TorchPartTests
{
    [Fact]
    public void Lazy_IsBuiltOnFirstUseOnly()
    {
        int calls = 0;
        using var part = new TorchPart<nn.Module<Tensor, Tensor>>(() => { calls++; return nn.Linear(2, 2); });
        Assert.False(part.IsBuilt);
        Assert.Equal(0, calls);
        var first = part.Value;
        Assert.Same(first, part.Value);
        Assert.True(part.IsBuilt);
        Assert.Equal((1, 1), (calls, part.Builds));
    }

    [Fact]
    public void Given_CountsNoBuild_AndReleaseRebuildsWithTheNewBuilder()
    {
        using var scope = NewDisposeScope();
        var given = nn.Linear(2, 2);
        using var part = new TorchPart<nn.Module<Tensor, Tensor>>(given);
        Assert.True(part.IsBuilt);
        Assert.Equal(0, part.Builds);
        part.Release(() => nn.Linear(2, 3));
        Assert.False(part.IsBuilt);
        Assert.Throws<InvalidOperationException>(() => given.parameters().First().numel());   // freed
        Assert.Equal(3, ((TorchSharp.Modules.Linear)part.Value).weight!.shape[0]);
        Assert.Equal(1, part.Builds);
    }

    [Fact]
    public void Value_ThrowsWhenTheBuilderThrows_AndStaysUnbuilt()
    {
        using var part = new TorchPart<nn.Module<Tensor, Tensor>>(() => throw new InvalidOperationException("files changed"));
        Assert.Equal("files changed", Assert.Throws<InvalidOperationException>(() => part.Value).Message);
        Assert.False(part.IsBuilt);
        Assert.Equal(0, part.Builds);
    }
}
