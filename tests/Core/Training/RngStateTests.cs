using Latent.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

[Collection(SerialTrainingCollection.Name)]
public class RngStateTests
{
    [Fact]
    public void CaptureRestore_ReplaysGlobalAndNamedGenerators()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        var generators = new Dictionary<string, Generator> { ["noise"] = g };
        manual_seed(5);
        rand(3);
        randn(4, generator: g);
        var saved = RngState.Capture(generators);
        var global1 = rand(5);
        var named1 = randn(5, generator: g);
        manual_seed(999);
        randn(7, generator: g);
        RngState.Restore(saved, generators);
        Assert.True(rand(5).eq(global1).all().item<bool>());
        Assert.True(randn(5, generator: g).eq(named1).all().item<bool>());
        foreach (var t in saved.Values) t.Dispose();
    }

    [Fact]
    public void Restore_ThrowsNamingMissingGenerator()
    {
        using var g = new Generator(1);
        var saved = RngState.Capture(new Dictionary<string, Generator>());
        var e = Assert.Throws<InvalidDataException>(() => RngState.Restore(saved, new Dictionary<string, Generator> { ["timesteps"] = g }));
        Assert.Contains("generator.timesteps", e.Message);
        foreach (var t in saved.Values) t.Dispose();
    }
}
