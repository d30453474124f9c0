using Latent.Schedulers;

namespace Latent.Schedulers.Tests;

public class KarrasSigmasTests
{
    [Fact]
    public void From_FollowsEquation5()
    {
        // sigma_i = (a + i/(n-1) (b - a))^7, a = sigma_first^(1/7), b = sigma_last^(1/7) (diffusers' in_sigmas order).
        double[] train = [0.5, 1, 2, 8];
        double[] k = KarrasSigmas.From(train, 3);
        double a = Math.Pow(0.5, 1 / 7.0), b = Math.Pow(8, 1 / 7.0);
        Assert.Equal(0.5, k[0], 1e-12);
        Assert.Equal(Math.Pow((a + b) / 2, 7), k[1], 1e-12);
        Assert.Equal(8, k[2], 1e-12);
    }

    [Fact]
    public void SigmaToT_InterpolatesInLogSigma()
    {
        float[] logSigmas = [MathF.Log(1f), MathF.Log(2f), MathF.Log(4f)];
        Assert.Equal(1.5, KarrasSigmas.SigmaToT(Math.Sqrt(8), logSigmas), 1e-6);
        Assert.Equal(0, KarrasSigmas.SigmaToT(0.5, logSigmas), 1e-12);   // below the table: clipped to 0
        Assert.Equal(2, KarrasSigmas.SigmaToT(9, logSigmas), 1e-12);     // above: clipped to the end
    }

    [Fact]
    public void From_DescendingInput_GivesDescendingLevels()
    {
        double[] k = KarrasSigmas.From([8.0, 2, 0.5], 4);
        Assert.Equal(8, k[0], 1e-12);
        Assert.Equal(0.5, k[^1], 1e-12);
        Assert.True(k[0] > k[1] && k[1] > k[2] && k[2] > k[3]);
    }
}
