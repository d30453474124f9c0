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
        AssertRestoreRepeats(() => new CaptionedSampler([[0, 1], [2], [3, 4, 5]], seed: 8), before: 5, after: 7);
    }

    // Draws `before`, saves the state, draws `after`; a new sampler restored to that state must draw the same batches.
    static void AssertRestoreRepeats(Func<CaptionedSampler> make, int before, int after)
    {
        var a = make();
        a.Next(before);
        var state = a.Sampler.State;
        var expected = a.Next(after);
        var b = make();
        b.Sampler.Restore(state);
        var again = b.Next(after);
        Assert.Equal(expected.Images, again.Images);
        Assert.Equal(expected.Captions, again.Captions);
    }

    [Fact]
    public void Constructor_ThrowsForImageWithoutCaption()
    {
        var e = Assert.Throws<ArgumentException>(() => new CaptionedSampler([[0], []], seed: 1));
        Assert.Contains("image 1", e.Message);
    }

    [Fact]
    public void Next_WithGroups_DrawsEveryGroupOnceAnEpochAndItsImagesInTurn()
    {
        // Images 0-3 are one group (four variants of one emoji), image 4 another: each group gets half of the draws,
        // where without groups image 4 would get a fifth.
        var sampler = new CaptionedSampler([[0], [1], [2], [3], [4]], seed: 5, imageGroups: [7, 7, 7, 7, 9]);
        Assert.Equal(2, sampler.GroupCount);
        var images = sampler.Next(400).Images;
        for (int epoch = 0; epoch < 200; epoch++)                         // one draw of each group per epoch
            Assert.Single(images.Skip(2 * epoch).Take(2), i => i == 4);
        var counts = images.Where(i => i != 4).GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new[] { 0, 1, 2, 3 }, counts.Keys.Order());
        Assert.All(counts.Values, n => Assert.InRange(n, 25, 75));       // 50 each expected
    }

    [Fact]
    public void Next_WithGroups_AfterRestore_RepeatsTheSameBatches()
    {
        int[][] captions = [[0, 1], [2], [3, 4, 5], [6]];
        int[] groups = [1, 1, 2, 1];
        AssertRestoreRepeats(() => new CaptionedSampler(captions, seed: 8, groups), before: 5, after: 9);
    }

    [Fact]
    public void Next_WithoutGroups_IsEveryImageOnceAnEpoch()
    {
        var sampler = new CaptionedSampler([[0], [1], [2]], seed: 2);
        Assert.Equal(3, sampler.GroupCount);
        Assert.Equal(new[] { 0, 1, 2 }, sampler.Next(3).Images.Order());
    }

    [Fact]
    public void Constructor_ThrowsForGroupsThatDoNotMatchTheImages()
    {
        var e = Assert.Throws<ArgumentException>(() => new CaptionedSampler([[0], [1]], seed: 1, imageGroups: [0]));
        Assert.Contains("1 image groups for 2 images", e.Message);
    }
}
