using System.Collections.Concurrent;
using Latent.Core.Training;
using static TorchSharp.torch;

namespace Latent.Core.Data;

/// <summary>
/// Serves shuffled, batched, optionally augmented images of an <see cref="ImageFolderDataset"/>, decoding the next
/// batches on a background thread so that training never waits on PNG decoding.
/// </summary>
/// <remarks>
/// <para>The order is <see cref="Sampler"/>'s (a <see cref="ShuffleSampler"/> over the records with the options' seed).
/// <see cref="Sampler"/> advances only when <see cref="Next"/> hands out a batch, never when the background thread works
/// ahead, so it is exactly the position to checkpoint: put it in <see cref="TrainingState.Sampler"/>. When its state is
/// changed from outside (e.g. <see cref="TrainingCheckpoint.Load"/> restores it), the next call notices, drops the
/// batches prepared ahead and continues from the restored position.</para>
/// <para>Flips and caption choices are a pure function of (seed, epoch, position), so a resumed run, and a run with or
/// without prefetching, sees the same batches bit for bit.</para>
/// <para>Not thread-safe: one consumer calls <see cref="Next"/>.</para>
/// </remarks>
public sealed class ImageBatchLoader : IDisposable
{
    readonly ImageFolderDataset dataset;
    readonly ImageLoaderOptions options;
    Thread? worker;
    CancellationTokenSource? cancel;
    BlockingCollection<Prepared>? queue;
    SamplerState? expected;
    bool disposed;

    /// <summary>Starts at epoch 0, position 0; the background thread starts with the first <see cref="Next"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public ImageBatchLoader(ImageFolderDataset dataset, ImageLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        options ??= new ImageLoaderOptions();
        options.Validate();
        this.dataset = dataset;
        this.options = options;
        Sampler = new ShuffleSampler(dataset.Count, options.Seed);
    }

    /// <summary>The data order and position: what a checkpoint saves and restores.</summary>
    public ShuffleSampler Sampler { get; }

    /// <summary>Whether the background thread is running.</summary>
    public bool IsPrefetching => worker?.IsAlive == true;

    /// <summary>The next batch: images <c>[B, 3, H, W]</c> in [-1, 1], captions and indices.</summary>
    /// <exception cref="InvalidDataException">An image cannot be decoded; the message names the file and its line.</exception>
    /// <exception cref="ObjectDisposedException">The loader was disposed.</exception>
    public ImageBatch Next()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Prepared p;
        if (options.Prefetch == 0)
        {
            var scratch = new ShuffleSampler(dataset.Count, options.Seed);
            scratch.Restore(Sampler.State);
            p = Prepare(scratch);
        }
        else
        {
            if (worker is null || Sampler.State != expected) Restart(Sampler.State);
            p = queue!.Take();
        }
        if (p.Error is not null)
        {
            Stop(); // the worker has stopped; the next call starts again from the unchanged position
            throw p.Error is InvalidDataException or IOException ? new InvalidDataException(p.Error.Message, p.Error) : new InvalidOperationException(p.Error.Message, p.Error);
        }
        Sampler.Restore(p.End);
        expected = p.End;
        int b = p.Indices.Length;
        // [B * 3 * H * W] -> [B, 3, H, W]
        var images = tensor(p.Pixels, new long[] { b, 3, options.Size.Height, options.Size.Width });
        return new ImageBatch(images, p.Captions, p.Indices, p.Flipped, p.Start);
    }

    /// <summary>Stops the background thread and drops the batches prepared ahead.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Stop();
    }

    sealed record Prepared(float[] Pixels, string[] Captions, int[] Indices, bool[] Flipped, SamplerState Start, SamplerState End, Exception? Error);

    /// <summary>Decodes the batch at <paramref name="sampler"/>'s position and advances it.</summary>
    Prepared Prepare(ShuffleSampler sampler)
    {
        int b = options.BatchSize, plane = options.Size.Height * options.Size.Width;
        var start = sampler.State;
        var pixels = new float[b * 3 * plane];
        var captions = new string[b];
        var indices = new int[b];
        var flipped = new bool[b];
        try
        {
            for (int i = 0; i < b; i++)
            {
                long epoch = sampler.Epoch;
                int position = sampler.Position;
                int index = sampler.Next();
                ulong draw = Draw(options.Seed, epoch, position);
                var record = dataset.Records[index];
                indices[i] = index;
                captions[i] = options.Captions == CaptionChoice.First ? record.Captions[0] : record.Captions[(int)(draw % (ulong)record.Captions.Count)];
                flipped[i] = options.Augment.HasFlag(Augmentations.HorizontalFlip) && (draw >> 63) == 1;
                using (NewDisposeScope())
                {
                    var image = dataset.LoadImage(index, options.Size);
                    image.data<float>().CopyTo(pixels, i * 3 * plane);
                }
                if (flipped[i]) MirrorRows(pixels.AsSpan(i * 3 * plane, 3 * plane), options.Size.Width);
            }
            return new Prepared(pixels, captions, indices, flipped, start, sampler.State, null);
        }
        catch (Exception e)
        {
            return new Prepared(pixels, captions, indices, flipped, start, start, e);
        }
    }

    /// <summary>A fixed 64-bit draw per (seed, epoch, position): bit 63 flips, the rest picks the caption.</summary>
    static ulong Draw(ulong seed, long epoch, int position) =>
        Mix(seed ^ Mix(0xD1B54A32D192ED03UL ^ Mix((ulong)epoch * 0x9E3779B97F4A7C15UL + (ulong)position)));

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Reverses every row of a <c>[3, H, W]</c> image in place.</summary>
    static void MirrorRows(Span<float> chw, int width)
    {
        for (int row = 0; row < chw.Length; row += width) chw.Slice(row, width).Reverse();
    }

    void Restart(SamplerState from)
    {
        Stop();
        var token = (cancel = new CancellationTokenSource()).Token;
        var q = queue = new BlockingCollection<Prepared>(options.Prefetch);
        var sampler = new ShuffleSampler(dataset.Count, options.Seed);
        sampler.Restore(from);
        expected = from;
        worker = new Thread(() =>
        {
            try
            {
                while (!token.IsCancellationRequested)
                {
                    Prepared p = Prepare(sampler);
                    q.Add(p, token);
                    if (p.Error is not null) return;
                }
            }
            catch (OperationCanceledException) { }
        })
        { IsBackground = true, Name = "latent-data-prefetch" };
        worker.Start();
    }

    void Stop()
    {
        if (worker is null) return;
        cancel!.Cancel();
        worker.Join();
        queue!.Dispose();
        cancel.Dispose();
        worker = null;
        queue = null;
        cancel = null;
        expected = null;
    }
}
