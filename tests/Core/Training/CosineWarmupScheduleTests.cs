using Latent.Core.Training;

namespace Latent.Core.Tests.Training;

public class CosineWarmupScheduleTests
{
    [Fact]
    public void At_MatchesDiffusersValues_AtStartWarmupEndMiddleAndEnd()
    {
        var s = new CosineWarmupSchedule(1e-3, WarmupSteps: 100, TotalSteps: 1100);
        Assert.Equal(0.0, s.At(0));                       // diffusers: 0 / 100
        Assert.Equal(0.5e-3, s.At(50), 1e-15);            // half-way through warm-up
        Assert.Equal(1e-3, s.At(100), 1e-15);             // warm-up end: progress 0, cos 0 = 1
        Assert.Equal(0.5e-3, s.At(600), 1e-15);           // middle of decay: ½(1 + cos(π/2))
        Assert.Equal(0.5e-3 * (1 + Math.Cos(Math.PI * 0.25)), s.At(350), 1e-15);
        Assert.Equal(0.0, s.At(1100), 1e-15);             // end: ½(1 + cos π)
    }

    [Fact]
    public void At_DecaysToFloor_AndStaysThereAfterTheEnd()
    {
        var s = new CosineWarmupSchedule(2.0, WarmupSteps: 0, TotalSteps: 10, MinRatio: 0.1);
        Assert.Equal(2.0, s.At(0), 1e-15);                // no warm-up: peak at once
        Assert.Equal(2.0 * (0.1 + 0.9 * 0.5), s.At(5), 1e-15);
        Assert.Equal(0.2, s.At(10), 1e-15);
        Assert.Equal(0.2, s.At(25), 1e-15);
    }

    [Fact]
    public void At_ThrowsForNegativeStep()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CosineWarmupSchedule(1, 0, 10).At(-1));
        Assert.Contains("-1", e.Message);
    }

    [Fact]
    public void Validate_ThrowsWhenTotalIsBelowWarmup()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new CosineWarmupSchedule(1, 10, 5).Validate());
        Assert.Contains("TotalSteps", e.Message);
    }
}
