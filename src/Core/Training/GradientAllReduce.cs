using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>
/// Sums the gradients of all ranks in place, in buckets: the gradients are packed in model order into flat float32
/// buffers of at most <see cref="DefaultBucketBytes"/>, each buffer is all-reduced in place, and the sums are copied back.
/// </summary>
/// <remarks>
/// <para>Buckets, as PyTorch's DistributedDataParallel (its <c>bucket_cap_mb</c> of 25): one call per tensor would pay
/// the network's latency ~700 times a step for the U-Net, one call for everything would hold a second copy of all
/// gradients; 25 MB buffers keep both small (the 90 MB U-Net gradient is 4 calls).</para>
/// <para>A sum, not a mean: each rank's loss is its share's sum of per-example losses divided by the global batch size
/// B, so the sum over ranks of the gradients is the gradient of the global batch's mean loss, also when B is not a
/// multiple of N. Only the order of the float32 additions differs from one process.</para>
/// </remarks>
public static class GradientAllReduce
{
    /// <summary>The largest bucket: 25 MiB (6.5M float32 values).</summary>
    public const long DefaultBucketBytes = 25L << 20;

    /// <summary>Replaces each parameter's gradient by the sum over all ranks (nothing to do with one process).</summary>
    /// <param name="parameters">The parameters, in the same order on every rank; those without a gradient are skipped
    /// (the same ones on every rank, as every rank runs the same forward).</param>
    /// <param name="parallel">The ranks.</param>
    /// <param name="what">What is summed, for the error of a timed-out call (e.g. "gradients of step 12").</param>
    /// <param name="bucketBytes">The largest bucket in bytes (a gradient larger than that is a bucket of its own).</param>
    /// <returns>The number of buckets all-reduced (0 with one process).</returns>
    /// <exception cref="ArgumentException">A gradient is not float32 on the CPU.</exception>
    public static int Sum(IEnumerable<Parameter> parameters, IDataParallel parallel, string what, long bucketBytes = DefaultBucketBytes)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(parallel);
        if (bucketBytes < sizeof(float)) throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, "expected at least 4 bytes");
        if (parallel.Size == 1) return 0;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        var bad = grads.FirstOrDefault(g => g.dtype != ScalarType.Float32 || g.device_type != DeviceType.CPU);
        if (bad is not null)
            throw new ArgumentException($"gradients are all-reduced as float32 on the CPU; got one of {bad.dtype} on {bad.device_type}", nameof(parameters));

        int buckets = 0;
        var bucket = new List<Tensor>();
        long bytes = 0;
        void Flush()
        {
            if (bucket.Count == 0) return;
            using var flat = cat(bucket.Select(g => g.reshape(-1)).ToList(), 0);   // [n] contiguous float32
            parallel.AllReduceSum(flat, $"{what} (bucket {buckets + 1})");
            long offset = 0;
            foreach (var g in bucket)
            {
                g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
                offset += g.numel();
            }
            buckets++;
            bucket.Clear();
            bytes = 0;
        }
        foreach (var g in grads)
        {
            long size = g.numel() * sizeof(float);
            if (bucket.Count > 0 && bytes + size > bucketBytes) Flush();
            bucket.Add(g);
            bytes += size;
        }
        Flush();
        return buckets;
    }

    /// <summary>Overwrites every parameter on every rank with rank 0's (nothing to do with one process): the ranks start
    /// from identical weights even where seeded initialisation could differ between machines.</summary>
    /// <param name="parameters">The parameters, in the same order on every rank.</param>
    /// <param name="parallel">The ranks.</param>
    /// <param name="bucketBytes">The largest bucket in bytes.</param>
    public static void BroadcastFromRankZero(IEnumerable<Parameter> parameters, IDataParallel parallel, long bucketBytes = DefaultBucketBytes)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(parallel);
        if (parallel.Size == 1) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var all = parameters.ToList();
        int start = 0;
        while (start < all.Count)
        {
            int end = start;
            long bytes = 0;
            while (end < all.Count && (end == start || bytes + all[end].numel() * sizeof(float) <= bucketBytes)) bytes += all[end++].numel() * sizeof(float);
            var part = all.GetRange(start, end - start);
            using var flat = cat(part.Select(p => p.detach().to(ScalarType.Float32).reshape(-1)).ToList(), 0);
            parallel.Broadcast(flat, $"initial weights (parameters {start}..{end - 1})");
            long offset = 0;
            foreach (var p in part)
            {
                p.copy_(flat.narrow(0, offset, p.numel()).view_as(p));
                offset += p.numel();
            }
            start = end;
        }
    }
}
