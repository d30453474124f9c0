using Latent.Training.UNet;
using Latent.Pipeline;

namespace Latent.Training.Tests.UNet;

public class CaptionedSamplerTests
{
    [Fact]
    public void Next_PicksEveryCaptionOfAnImageOverEpochs()
    {
        // One image with three captions: 300 draws should see each about 100 times.
        var sampler = new CaptionedSampler([[4, 7, 9]], seed: 3);
        var counts = sampler.Next(300).Captions.GroupBy(c => c).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new[] { 4, 7, 9 }, counts.Keys.Order());
        Assert.All(counts.Values, n => Assert.InRange(n, 60, 140));
    }

    [Fact]
    public void Next_AfterRestore_RepeatsTheSameBatches()
    {
        var a = new CaptionedSampler([[0, 1], [2], [3, 4, 5]], seed: 8);
        a.Next(5);
        var state = a.Sampler.State;
        var expected = a.Next(7);
        var b = new CaptionedSampler([[0, 1], [2], [3, 4, 5]], seed: 8);
        b.Sampler.Restore(state);
        var again = b.Next(7);
        Assert.Equal(expected.Images, again.Images);
        Assert.Equal(expected.Captions, again.Captions);
    }

    [Fact]
    public void Constructor_ThrowsForImageWithoutCaption()
    {
        var e = Assert.Throws<ArgumentException>(() => new CaptionedSampler([[0], []], seed: 1));
        Assert.Contains("image 1", e.Message);
    }
}
