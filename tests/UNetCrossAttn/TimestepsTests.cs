using Latent.UNetCrossAttn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn.Tests;

public class TimestepsTests
{
    [Fact]
    public void Forward_MatchesHandComputedSinusoids()
    {
        using var scope = NewDisposeScope();
        using var proj = new Timesteps("t", 4, flipSinToCos: false, downscaleFreqShift: 1);
        var emb = proj.forward(tensor(new long[] { 0, 3 }));
        // half = 2, frequencies exp(-ln(10000) i / (2 - 1)) = 1, 1e-4.
        var expected = tensor(new float[,]
        {
            { 0f, 0f, 1f, 1f },
            { MathF.Sin(3f), MathF.Sin(3e-4f), MathF.Cos(3f), MathF.Cos(3e-4f) },
        });
        Assert.True((emb - expected).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void Forward_FlipPutsCosinesFirst()
    {
        using var scope = NewDisposeScope();
        using var plain = new Timesteps("t", 8, flipSinToCos: false, downscaleFreqShift: 0);
        using var flipped = new Timesteps("t", 8, flipSinToCos: true, downscaleFreqShift: 0);
        var t = tensor(new float[] { 1.5f, 999f });
        var a = plain.forward(t);
        var b = flipped.forward(t);
        Assert.True((a[.., 4..] - b[.., ..4]).abs().max().item<float>() == 0f);
        Assert.True((a[.., ..4] - b[.., 4..]).abs().max().item<float>() == 0f);
    }

    [Fact]
    public void Forward_OddWidthPadsAZeroColumn()
    {
        using var scope = NewDisposeScope();
        using var proj = new Timesteps("t", 5, flipSinToCos: true, downscaleFreqShift: 0);
        var emb = proj.forward(tensor(new long[] { 7 }));
        Assert.Equal(new long[] { 1, 5 }, emb.shape);
        Assert.Equal(0f, emb[0, 4].item<float>());
    }
}
