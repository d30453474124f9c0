using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Training.UNet;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.Tests.UNet;

[Collection(SerialTrainingCollection.Name)]
public sealed class LatentCacheTests : IDisposable
{
    readonly ToyWorld world = new();

    public void Dispose() => world.Dispose();

    [Fact]
    public void Build_StoresThePosteriorAndTheTextStates()
    {
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        Assert.Equal(4, cache.Count);
        Assert.Equal(ToyWorld.Colours, cache.Captions);
        Assert.Equal(new long[] { 4, 8, 8 }, cache.LatentShape);
        Assert.Equal(new long[] { 77, 32 }, cache.TextShape);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = stack(Enumerable.Range(0, 4).Select(ToyWorld.SolidImage).ToList(), 0);
        using var posterior = world.Vae.Encode(images);
        var (mean, logVar) = cache.Posterior([2, 0]);
        Assert.True(mean.allclose(posterior.Mean[tensor(new long[] { 2, 0 })], rtol: 2e-3, atol: 2e-3));
        Assert.True(logVar.allclose(posterior.LogVar[tensor(new long[] { 2, 0 })], rtol: 2e-3, atol: 2e-2));

        var (ids, _) = world.Tokenizer.EncodeBatch(["blue", ""]);
        var states = world.TextEncoder.forward(ids);                        // [2, 77, 32]
        var cached = cache.TextStates([2, -1]);
        Assert.True(cached.allclose(states, rtol: 2e-3, atol: 2e-3));
    }

    [Fact]
    public void Build_Again_ReusesTheCacheWithoutCallingTheModels()
    {
        string dir = TestEnvironment.NewTempDir();
        using (var first = world.Cache(dir))
        {
            Assert.Equal(4, first.EncodedImages);
            Assert.Equal(5, first.EncodedCaptions);   // four captions and the empty prompt
        }
        using var second = world.Cache(dir);
        Assert.Equal(0, second.EncodedImages);
        Assert.Equal(0, second.EncodedCaptions);
    }

    [Fact]
    public void Build_OtherVaeWeights_RebuildsOnlyTheLatents()
    {
        string dir = TestEnvironment.NewTempDir();
        using (world.Cache(dir)) { }
        using var other = new ToyWorld(vaeSeed: 99);
        using var cache = LatentCache.Build(dir, world.Data, new ImageSize(16, 16), other.Vae, world.TextEncoder, world.Tokenizer);
        Assert.Equal(4, cache.EncodedImages);
        Assert.Equal(0, cache.EncodedCaptions);
    }

    [Fact]
    public void Build_OtherTextEncoderWeights_RebuildsOnlyTheText()
    {
        string dir = TestEnvironment.NewTempDir();
        using (world.Cache(dir)) { }
        using var other = new ToyWorld(textSeed: 98);
        using var cache = LatentCache.Build(dir, world.Data, new ImageSize(16, 16), world.Vae, other.TextEncoder, world.Tokenizer);
        Assert.Equal(0, cache.EncodedImages);
        Assert.Equal(5, cache.EncodedCaptions);
    }

    [Fact]
    public void Build_ChangedImage_RebuildsTheLatents()
    {
        string dir = TestEnvironment.NewTempDir();
        using (world.Cache(dir)) { }
        using (var solid = ToyWorld.SolidImage(1))
        using (var green = solid * Scalars.Of(0.5))
            ImageIO.SavePng(green, Path.Combine(world.DataDir, "red.png"));    // same name, other pixels
        var changed = ImageFolderDataset.Read(world.DataDir);
        using var cache = LatentCache.Build(dir, changed, new ImageSize(16, 16), world.Vae, world.TextEncoder, world.Tokenizer);
        Assert.Equal(4, cache.EncodedImages);
        Assert.Equal(0, cache.EncodedCaptions);
    }

    [Fact]
    public void TextStates_ThrowsForUnknownCaption()
    {
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => cache.TextStates([4]));
        Assert.Contains("[-1, 4)", e.Message);
    }
}
