using Latent.Training.UNet;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.Tests.UNet;

public class CaptionDropoutTests
{
    [Fact]
    public void Sample_DropsAboutTheGivenFraction()
    {
        // 20,000 Bernoulli(0.1) draws: mean 0.1, standard error 0.0021; 4 standard errors either side.
        using var g = new Generator(11);
        int dropped = 0, total = 0;
        for (int i = 0; i < 100; i++)
        {
            bool[] d = CaptionDropout.Sample(200, 0.1, g);
            dropped += d.Count(x => x);
            total += d.Length;
        }
        double rate = (double)dropped / total;
        Assert.InRange(rate, 0.1 - 4 * 0.0021, 0.1 + 4 * 0.0021);
    }

    [Fact]
    public void Sample_ZeroAndOne_DropNoneAndAll()
    {
        using var g = new Generator(1);
        Assert.DoesNotContain(true, CaptionDropout.Sample(500, 0.0, g));
        Assert.DoesNotContain(false, CaptionDropout.Sample(500, 1.0, g));
    }

    [Fact]
    public void Sample_SameSeed_SameChoices()
    {
        using var a = new Generator(5);
        using var b = new Generator(5);
        Assert.Equal(CaptionDropout.Sample(64, 0.3, a), CaptionDropout.Sample(64, 0.3, b));
    }

    [Fact]
    public void Sample_ThrowsForProbabilityOutsideUnitInterval()
    {
        using var g = new Generator(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CaptionDropout.Sample(4, 1.5, g));
        Assert.Contains("1.5", e.Message);
        Assert.Contains("[0, 1]", e.Message);
    }
}
