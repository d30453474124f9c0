using Latent.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

public class GradientAllReduceTests
{
    /// <summary>Two ranks whose other rank holds the same buffer: a sum doubles it; records each call's length.</summary>
    sealed class MirrorRanks : IDataParallel
    {
        public readonly List<long> Lengths = [];
        public int Rank => 0;
        public int Size => 2;
        public void AllReduceSum(Tensor buffer, string what)
        {
            Assert.True(buffer.is_contiguous() && buffer.dtype == ScalarType.Float32);
            Lengths.Add(buffer.numel());
            buffer.mul_(Latent.Core.Engine.Scalars.Of(2));
        }
        public Tensor AllGatherRows(Tensor rows, int batchSize, string what) => cat([rows, rows], 0);
        public void Broadcast(Tensor buffer, string what) { Lengths.Add(buffer.numel()); buffer.fill_(Latent.Core.Engine.Scalars.Of(7)); }
        public void Barrier(string what, TimeSpan? timeout = null) { }
        public TimeSpan CollectiveTime => TimeSpan.Zero;
    }

    static List<Parameter> WithGradients(params long[] sizes)
    {
        var generator = new Generator(5);
        return sizes.Select(n =>
        {
            using var init = randn(new[] { n, 2 }, generator: generator);
            var p = new Parameter(init);
            using var g = randn(new[] { n, 2 }, generator: generator);
            using var scope = NewDisposeScope();
            (p * g).sum().backward();   // p.grad = g
            return p;
        }).ToList();
    }

    [Fact]
    public void Sum_PacksBucketsInModelOrderAndWritesTheSumsBack()
    {
        using var scope = NewDisposeScope();
        var parameters = WithGradients(3, 5, 1, 8);   // 6, 10, 2, 16 floats
        var before = parameters.Select(p => p.grad!.clone()).ToList();
        var ranks = new MirrorRanks();

        int buckets = GradientAllReduce.Sum(parameters, ranks, "test", bucketBytes: 16 * sizeof(float));

        Assert.Equal(3, buckets);
        Assert.Equal(new long[] { 6 + 10, 2, 16 }, ranks.Lengths);   // a bucket never exceeds 16 floats unless one gradient does
        for (int i = 0; i < parameters.Count; i++)
            Assert.True(parameters[i].grad!.eq(before[i] * Latent.Core.Engine.Scalars.Of(2)).all().item<bool>(), $"gradient {i}");
    }

    [Fact]
    public void Sum_OneProcess_LeavesTheGradientsAlone()
    {
        using var scope = NewDisposeScope();
        var parameters = WithGradients(3);
        var before = parameters[0].grad!.clone();
        Assert.Equal(0, GradientAllReduce.Sum(parameters, SingleProcess.Instance, "test"));
        Assert.True(parameters[0].grad!.eq(before).all().item<bool>());
    }

    [Fact]
    public void Sum_DoubleGradient_ThrowsNamingTheDtype()
    {
        using var scope = NewDisposeScope();
        var p = new Parameter(zeros(2, dtype: ScalarType.Float64));
        using (NewDisposeScope()) p.sum().backward();
        var e = Assert.Throws<ArgumentException>(() => GradientAllReduce.Sum([p], new MirrorRanks(), "test"));
        Assert.Contains("Float64", e.Message);
    }

    [Fact]
    public void BroadcastFromRankZero_OverwritesEveryParameter()
    {
        using var scope = NewDisposeScope();
        var parameters = WithGradients(3, 5);
        var ranks = new MirrorRanks();
        GradientAllReduce.BroadcastFromRankZero(parameters, ranks, bucketBytes: 6 * sizeof(float));
        Assert.Equal(new long[] { 6, 10 }, ranks.Lengths);
        Assert.All(parameters, p => Assert.True(p.eq(Latent.Core.Engine.Scalars.Of(7)).all().item<bool>()));
    }
}
