using Latent.Core.Training;

namespace Latent.Core.Tests.Training;

public class BatchShareTests
{
    [Theory]
    [InlineData(4, 1)]
    [InlineData(4, 2)]
    [InlineData(7, 3)]
    [InlineData(64, 64)]
    public void Shares_AreDisjointContiguousInOrderAndCoverTheBatch(int batch, int size)
    {
        var shares = Enumerable.Range(0, size).Select(r => BatchShare.Of(batch, r, size)).ToList();
        Assert.Equal(0, shares[0].Start);
        for (int r = 1; r < size; r++) Assert.Equal(shares[r - 1].Start + shares[r - 1].Count, shares[r].Start);
        Assert.Equal(batch, shares.Sum(s => s.Count));
        Assert.All(shares, s => Assert.InRange(s.Count, batch / size, batch / size + 1));
    }

    [Fact]
    public void Of_SevenOverThree_GivesTheExtraRowsToTheFirstRanks()
    {
        Assert.Equal(new[] { new BatchShare(0, 3), new BatchShare(3, 2), new BatchShare(5, 2) },
            Enumerable.Range(0, 3).Select(r => BatchShare.Of(7, r, 3)));
    }

    [Fact]
    public void Of_BatchSmallerThanTheProcesses_ThrowsNamingBoth()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => BatchShare.Of(2, 0, 3));
        Assert.Contains("a batch of 2 cannot be shared by 3 processes", e.Message);
    }

    [Fact]
    public void Of_RankOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => BatchShare.Of(4, 2, 2));
    }

    [Fact]
    public void SingleProcess_IsTheWholeBatch()
    {
        Assert.True(BatchShare.Of(5, SingleProcess.Instance).IsWhole(5));
    }

    [Fact]
    public void SingleProcess_AllGatherRows_IsTheWholeBatchUnchanged()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var rows = TorchSharp.torch.tensor(new float[] { 0, 1, 2, 3, 4, 5 }).reshape(3, 2);
        using var all = SingleProcess.Instance.AllGatherRows(rows, 3, "test");
        Assert.Equal(rows.data<float>().ToArray(), all.data<float>().ToArray());
        Assert.False(all.requires_grad);
        var e = Assert.Throws<ArgumentException>(() => SingleProcess.Instance.AllGatherRows(rows, 4, "test"));
        Assert.Contains("whole batch of 4 rows", e.Message);
    }
}
