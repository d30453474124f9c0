using Latent.Schedulers;

namespace Latent.Schedulers.Tests;

public class TimestepSpacingTests
{
    static double[] Ddim(TimestepSpacing spacing, int n, int offset = 0)
    {
        var s = new DdimScheduler(new SchedulerConfig { TimestepSpacing = spacing, StepsOffset = offset });
        s.SetTimesteps(n);
        return s.Timesteps.ToArray();
    }

    [Fact]
    public void Leading_WithOffset1_Is981To1ForSd50Steps()
    {
        double[] expected = Enumerable.Range(0, 50).Select(i => 981.0 - 20 * i).ToArray();
        Assert.Equal(expected, Ddim(TimestepSpacing.Leading, 50, offset: 1));
    }

    [Fact]
    public void Leading_30Steps_UsesIntegerRatio()
    {
        // T // n = 33: 29*33 + 1 = 958 ... 1
        Assert.Equal(Enumerable.Range(0, 30).Select(i => 958.0 - 33 * i), Ddim(TimestepSpacing.Leading, 30, offset: 1));
    }

    [Fact]
    public void Trailing_StartsAtTMinus1()
    {
        Assert.Equal(Enumerable.Range(0, 50).Select(i => 999.0 - 20 * i), Ddim(TimestepSpacing.Trailing, 50));
        Assert.Equal([999, 966, 932, 899, 866, 832, 799, 766, 732, 699, 666, 632, 599, 566, 532, 499, 466, 432, 399, 366,
            332, 299, 266, 232, 199, 166, 132, 99, 66, 32], Ddim(TimestepSpacing.Trailing, 30));
        Assert.Equal([999, 856, 713, 570, 428, 285, 142], Ddim(TimestepSpacing.Trailing, 7));
    }

    [Fact]
    public void Linspace_RoundsHalfToEven()
    {
        Assert.Equal([999, 979, 958, 938, 917, 897, 877, 856, 836, 816, 795, 775, 754, 734, 714, 693, 673, 652, 632, 612,
            591, 571, 550, 530, 510, 489, 469, 449, 428, 408, 387, 367, 347, 326, 306, 285, 265, 245, 224, 204, 183, 163,
            143, 122, 102, 82, 61, 41, 20, 0], Ddim(TimestepSpacing.Linspace, 50));
        Assert.Equal([999, 965, 930, 896, 861, 827, 792, 758, 723, 689, 655, 620, 586, 551, 517, 482, 448, 413, 379, 344,
            310, 276, 241, 207, 172, 138, 103, 69, 34, 0], Ddim(TimestepSpacing.Linspace, 30));
    }

    [Fact]
    public void Ddpm_UsesTheSameSpacingRules()
    {
        var s = new DdpmScheduler(new SchedulerConfig { TimestepSpacing = TimestepSpacing.Trailing });
        s.SetTimesteps(7);
        Assert.Equal([999, 856, 713, 570, 428, 285, 142], s.Timesteps);
        var d = new DdpmScheduler(new SchedulerConfig());
        Assert.Equal(999, d.Timesteps[0]);
        Assert.Equal(1000, d.Timesteps.Count);
    }

    [Fact]
    public void SetTimesteps_ThrowsForMoreStepsThanTraining()
    {
        var s = new DdimScheduler(new SchedulerConfig());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.SetTimesteps(1001));
        Assert.Contains("1001", e.Message);
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public void SetTimesteps_ThrowsForZeroSteps()
    {
        var s = new DdpmScheduler(new SchedulerConfig());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.SetTimesteps(0));
        Assert.Contains("= 0", e.Message);
    }
}
