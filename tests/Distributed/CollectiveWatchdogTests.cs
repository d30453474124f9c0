namespace Latent.Distributed.Tests;

public class CollectiveWatchdogTests
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);

    [Fact]
    public void Run_CallPastItsTimeout_ReportsWhoAndWhatOnce()
    {
        var messages = new List<string>();
        using var watchdog = new CollectiveWatchdog("rank 1 of 2: ", m => { lock (messages) messages.Add(m); }, Poll);
        watchdog.Run("gradients of step 3 (bucket 1)", TimeSpan.FromMilliseconds(200), () => Thread.Sleep(600));
        Assert.True(watchdog.Fired);
        var message = Assert.Single(messages);
        Assert.StartsWith("rank 1 of 2: gradients of step 3 (bucket 1) did not complete within 0.2 s: another rank died, hangs", message);
    }

    [Fact]
    public void Run_CallWithinItsTimeout_DoesNotFire()
    {
        bool fired = false;
        using var watchdog = new CollectiveWatchdog("", _ => fired = true, Poll);
        for (int i = 0; i < 5; i++) watchdog.Run("barrier", TimeSpan.FromSeconds(5), () => Thread.Sleep(20));
        Thread.Sleep(100);
        Assert.False(fired);
        Assert.False(watchdog.Fired);
    }

    [Fact]
    public void Run_InfiniteTimeout_IsNotArmed()
    {
        bool fired = false;
        using var watchdog = new CollectiveWatchdog("", _ => fired = true, Poll);
        watchdog.Run("the latent cache", Timeout.InfiniteTimeSpan, () => Thread.Sleep(100));
        Assert.False(fired);
    }
}
