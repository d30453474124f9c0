using Latent.Core.Data;
using Latent.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Data;

public class ImageBatchLoaderTests
{
    static readonly ImageFolderDataset Twelve = ImageFolderDataset.Read(ImageFolderFixture.Folder(12));

    static List<(float[] Pixels, string[] Captions, int[] Indices, bool[] Flipped)> Take(ImageBatchLoader loader, int batches) =>
        Enumerable.Range(0, batches).Select(_ =>
        {
            using var b = loader.Next();
            return (b.Images.data<float>().ToArray(), b.Captions.ToArray(), b.Indices, b.Flipped);
        }).ToList();

    [Fact]
    public void Next_FollowsTheShuffleSamplerOrder_InBatchesOfBx3x64x64()
    {
        using var scope = NewDisposeScope();
        using var loader = new ImageBatchLoader(Twelve, new() { BatchSize = 5, Seed = 7 });
        var sampler = new ShuffleSampler(12, seed: 7);
        for (int i = 0; i < 4; i++) // crosses the epoch boundary
        {
            using var batch = loader.Next();
            Assert.Equal(new long[] { 5, 3, 64, 64 }, batch.Images.shape);
            Assert.Equal(sampler.NextBatch(5), batch.Indices);
            Assert.All(batch.Indices.Zip(batch.Captions), p => Assert.Contains(p.Second, Twelve.Records[p.First].Captions));
            using var expected = Twelve.LoadImage(batch.Indices[2]);
            Assert.True(batch.Images[2].allclose(expected, rtol: 0, atol: 0));
        }
        Assert.Equal(sampler.State, loader.Sampler.State);
    }

    [Fact]
    public void Prefetch_GivesTheSameBatchesAsSynchronousLoading()
    {
        var options = new ImageLoaderOptions { BatchSize = 4, Seed = 3, Augment = Augmentations.HorizontalFlip };
        using var background = new ImageBatchLoader(Twelve, options with { Prefetch = 3 });
        using var synchronous = new ImageBatchLoader(Twelve, options with { Prefetch = 0 });
        var a = Take(background, 7);
        var b = Take(synchronous, 7);
        Assert.True(background.IsPrefetching);
        Assert.False(synchronous.IsPrefetching);
        for (int i = 0; i < 7; i++)
        {
            Assert.Equal(b[i].Indices, a[i].Indices);
            Assert.Equal(b[i].Captions, a[i].Captions);
            Assert.Equal(b[i].Flipped, a[i].Flipped);
            Assert.Equal(b[i].Pixels, a[i].Pixels);
        }
        Assert.Equal(synchronous.Sampler.State, background.Sampler.State); // prefetching does not move the checkpointed position
    }

    [Fact]
    public void Restore_FromASamplerState_GivesTheSameNextBatch()
    {
        var options = new ImageLoaderOptions { BatchSize = 5, Seed = 11, Augment = Augmentations.HorizontalFlip };
        using var straight = new ImageBatchLoader(Twelve, options);
        Take(straight, 3);
        SamplerState saved = straight.Sampler.State;
        var expected = Take(straight, 2);

        using var fresh = new ImageBatchLoader(Twelve, options);
        Take(fresh, 1); // its prefetch thread has run ahead from another position
        fresh.Sampler.Restore(saved);
        var resumed = Take(fresh, 2);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(expected[i].Indices, resumed[i].Indices);
            Assert.Equal(expected[i].Captions, resumed[i].Captions);
            Assert.Equal(expected[i].Pixels, resumed[i].Pixels);
        }
    }

    [Fact]
    public void TrainingCheckpoint_SavesAndRestoresTheLoaderPosition()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "ckpt.safetensors");
        var options = new ImageLoaderOptions { BatchSize = 5, Seed = 2 };
        using var model = nn.Linear(2, 2);
        using var optimizer = new AdamWOptimizer(model.named_parameters(), new AdamWConfig(LearningRate: 1e-3));
        using var first = new ImageBatchLoader(Twelve, options);
        Take(first, 2);
        TrainingCheckpoint.Save(path, new TrainingState { Model = model, Optimizer = optimizer, Sampler = first.Sampler }, step: 2);
        var expected = Take(first, 1)[0];

        using var second = new ImageBatchLoader(Twelve, options);
        TrainingCheckpoint.Load(path, new TrainingState { Model = model, Optimizer = optimizer, Sampler = second.Sampler });
        var resumed = Take(second, 1)[0];
        Assert.Equal(expected.Indices, resumed.Indices);
        Assert.Equal(expected.Pixels, resumed.Pixels);
    }

    [Fact]
    public void HorizontalFlip_IsOptIn_AndMirrorsTheFlaggedImages()
    {
        using var scope = NewDisposeScope();
        using var plain = new ImageBatchLoader(Twelve, new() { BatchSize = 12, Seed = 5, Captions = CaptionChoice.First });
        using var flipping = new ImageBatchLoader(Twelve, new() { BatchSize = 12, Seed = 5, Augment = Augmentations.HorizontalFlip });
        using var a = plain.Next();
        using var b = flipping.Next();
        Assert.All(a.Flipped, f => Assert.False(f));
        Assert.Equal(a.Indices.Select(i => Twelve.Records[i].Captions[0]), a.Captions);
        Assert.Contains(true, b.Flipped);
        Assert.Contains(false, b.Flipped);
        for (int i = 0; i < 12; i++)
        {
            using var expected = b.Flipped[i] ? a.Images[i].flip(2) : a.Images[i].alias();
            Assert.True(b.Images[i].allclose(expected, rtol: 0, atol: 0), $"image {i} (flipped: {b.Flipped[i]})");
        }
    }

    [Fact]
    public void Dispose_StopsTheBackgroundThread()
    {
        var loader = new ImageBatchLoader(Twelve, new() { BatchSize = 2, Prefetch = 2 });
        loader.Next().Dispose();
        Assert.True(loader.IsPrefetching);
        loader.Dispose();
        Assert.False(loader.IsPrefetching);
        Assert.Throws<ObjectDisposedException>(() => loader.Next());
    }

    [Fact]
    public void Next_ThrowsForACorruptImage_NamingTheLine()
    {
        string dir = ImageFolderFixture.Images(1);
        File.WriteAllBytes(Path.Combine(dir, "bad.png"), [1, 2, 3]);
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "ok"}""", """{"file_name": "bad.png", "text": "x"}""");
        var data = ImageFolderDataset.Read(dir, new() { Check = ImageCheck.Exists });
        using var loader = new ImageBatchLoader(data, new() { BatchSize = 2 });
        var e = Assert.Throws<InvalidDataException>(() => loader.Next());
        Assert.Contains("line 2", e.Message);
        Assert.Contains("bad.png", e.Message);
        Assert.Equal(0, loader.Sampler.Position); // nothing consumed
    }

    [Fact]
    public void Constructor_ThrowsForANonPositiveBatchSize()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ImageBatchLoader(Twelve, new() { BatchSize = 0 }));
        Assert.Contains("got 0", e.Message);
    }
}
