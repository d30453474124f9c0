using Latent.Pipeline.Metadata;
using System.Diagnostics;
using System.Threading.Channels;
using Latent.Core.Imaging;
using Latent.Pipeline;
using static TorchSharp.torch;

namespace Latent.Server;

/// <summary>
/// The bounded queue in front of the pipeline and the one worker thread that drains it: one batch at a time, each on
/// all the engine's threads (running two at once would only split the cores between them).
/// </summary>
/// <remarks>
/// A job whose client disconnects is skipped if it still waits, and stopped before its next denoising step if it runs.
/// A job that fails (an engine error, a bad image) faults only its own request: the worker goes on with the next.
/// </remarks>
sealed class GenerationQueue : IDisposable
{
    readonly Channel<GenerationJob> channel;
    readonly StableDiffusionPipeline pipeline;
    readonly ServerMetrics metrics;
    readonly CancellationTokenSource stopping = new();
    readonly Thread worker;
    volatile RunState? running;
    int jobsStarted;

    public GenerationQueue(StableDiffusionPipeline pipeline, int capacity, ServerMetrics metrics)
    {
        (this.pipeline, this.metrics) = (pipeline, metrics);
        channel = Channel.CreateBounded<GenerationJob>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        worker = new Thread(Work) { Name = "latent-generation", IsBackground = true };
        worker.Start();
    }

    /// <summary>Test hook: called on the worker thread as each job starts, before the pipeline runs it.</summary>
    internal Action<GenerationJob>? JobStarting { get; set; }

    /// <summary>Test hook: called on the worker thread after each denoising step with the job's steps done so far.</summary>
    internal Action<GenerationJob, int>? StepDone { get; set; }

    /// <summary>Jobs waiting behind the running one.</summary>
    public int Waiting => channel.Reader.Count;

    /// <summary>Queues <paramref name="job"/>; false when the queue is full (the caller answers 503).</summary>
    public bool TryEnqueue(GenerationJob job) => channel.Writer.TryWrite(job);

    /// <summary>Seconds a new request would wait, roughly: the jobs ahead times the mean time per job (at least 1), for <c>Retry-After</c>.</summary>
    public int RetryAfterSeconds() => (int)Math.Clamp(Math.Ceiling((Waiting + 1) * metrics.MeanJobSeconds), 1, 3600);

    /// <summary>Stops the running job before its next step (A1111's interrupt); false when none runs.</summary>
    public bool Interrupt()
    {
        if (running is not { } r) return false;
        r.Interrupted = true;
        try { r.Cancel.Cancel(); }
        catch (ObjectDisposedException) { return false; } // the job ended between the read and the cancel
        return true;
    }

    /// <summary>The running job's progress, for <c>/sdapi/v1/progress</c>.</summary>
    public ProgressSnapshot Progress()
    {
        RunState? r = running;
        int jobs = Waiting + (r is null ? 0 : 1);
        if (r is null) return new ProgressSnapshot(null, 0, 0, 0, 0, 0, jobs, false, null);
        double fraction = r.TotalSteps == 0 ? 0 : Math.Clamp((double)r.Step / r.TotalSteps, 0, 1);
        double elapsed = r.Clock.Elapsed.TotalSeconds;
        double eta = fraction > 0 ? elapsed / fraction - elapsed : 0;
        return new ProgressSnapshot(r.Job.Id, r.JobNo, fraction, eta, r.Step, r.TotalSteps, jobs, r.Interrupted, r.Started);
    }

    void Work()
    {
        while (true)
        {
            GenerationJob job;
            try { job = channel.Reader.ReadAsync(stopping.Token).AsTask().GetAwaiter().GetResult(); }
            catch (Exception e) when (e is OperationCanceledException or ChannelClosedException) { break; }
            Run(job);
        }
    }

    void Run(GenerationJob job)
    {
        TimeSpan waited = job.Age;
        using JobSpec spec = job.Spec;
        if (job.Aborted.IsCancellationRequested)
        {
            metrics.Job("cancelled", 0, TimeSpan.Zero);
            job.Done.TrySetCanceled(job.Aborted);
            return;
        }
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(job.Aborted, stopping.Token);
        int batch = spec.Request.ImagesPerPrompt;
        var state = new RunState(job, cancel, Interlocked.Increment(ref jobsStarted)) { TotalSteps = StepsPerBatch(spec) * spec.Iterations };
        running = state;
        var pngs = new List<byte[]>();
        var parameters = new List<GenerationParameters>();
        try
        {
            JobStarting?.Invoke(job);
            for (int k = 0; k < spec.Iterations; k++)
            {
                // A1111: batch k's seed is seed + k * batch_size.
                GenerationRequest request = spec.Request with { Seed = spec.Request.Seed + (long)k * batch };
                int done = k;
                var progress = new StepProgress(p =>
                {
                    state.TotalSteps = p.TotalSteps * spec.Iterations;
                    state.Step = done * p.TotalSteps + p.Step;
                    StepDone?.Invoke(job, state.Step);
                    // The client's token, not only the linked one the pipeline reads: CancellationTokenSource wakes
                    // waiters before it runs the callbacks that cancel linked sources, so the linked token can still
                    // read "not cancelled" for a moment after the client left, and one more step would run.
                    job.Aborted.ThrowIfCancellationRequested();
                });
                using var scope = NewDisposeScope();
                using GenerationResult result = spec.InitImage is { } image
                    ? pipeline.ImageToImage(new ImageToImageRequest { Generation = request, Image = image, Strength = spec.Strength }, progress, cancel.Token)
                    : pipeline.Generate(request, progress, cancel.Token);
                for (int i = 0; i < result.Parameters.Count; i++)
                {
                    pngs.Add(GenerationPng.Encode(result.Images[i], result.Parameters[i]));
                    parameters.Add(result.Parameters[i]);
                }
            }
            Finish(job, state, "ok", new JobResult(pngs, parameters, false, waited, state.Clock.Elapsed));
        }
        catch (OperationCanceledException) when (job.Aborted.IsCancellationRequested)
        {
            metrics.Job("cancelled", 0, state.Clock.Elapsed);
            job.Done.TrySetCanceled(job.Aborted);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            metrics.Job("cancelled", 0, state.Clock.Elapsed);
            job.Done.TrySetException(new ObjectDisposedException(nameof(GenerationQueue), "the server is stopping"));
        }
        catch (OperationCanceledException) when (state.Interrupted)
        {
            Finish(job, state, "interrupted", new JobResult(pngs, parameters, true, waited, state.Clock.Elapsed));
        }
        catch (Exception e)
        {
            metrics.Job("failed", 0, state.Clock.Elapsed);
            job.Done.TrySetException(e);
        }
        finally
        {
            running = null;
        }
    }

    void Finish(GenerationJob job, RunState state, string outcome, JobResult result)
    {
        metrics.Job(outcome, result.Pngs.Count, state.Clock.Elapsed);
        job.Done.TrySetResult(result);
    }

    // img2img runs the last floor(steps * strength) steps (the progress callback corrects this if a scheduler differs).
    static int StepsPerBatch(JobSpec spec) => spec.InitImage is null ? spec.Request.Steps : Math.Max(1, (int)(spec.Request.Steps * spec.Strength));

    /// <summary>Stops the worker: the running job is cancelled and waiting jobs fail with "the server is stopping".</summary>
    public void Dispose()
    {
        channel.Writer.TryComplete();
        stopping.Cancel();
        worker.Join();
        while (channel.Reader.TryRead(out GenerationJob? job))
        {
            job.Spec.Dispose();
            job.Done.TrySetException(new ObjectDisposedException(nameof(GenerationQueue), "the server is stopping"));
        }
        stopping.Dispose();
    }

    /// <summary>The running job: its steps are written by the worker and read by <c>/progress</c>.</summary>
    sealed class RunState(GenerationJob job, CancellationTokenSource cancel, int jobNo)
    {
        public GenerationJob Job { get; } = job;
        public CancellationTokenSource Cancel { get; } = cancel;
        public int JobNo { get; } = jobNo;
        public Stopwatch Clock { get; } = Stopwatch.StartNew();
        public DateTime Started { get; } = DateTime.UtcNow;
        public volatile int Step;
        public volatile int TotalSteps;
        public volatile bool Interrupted;
    }

    sealed class StepProgress(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}

/// <summary>What <c>/sdapi/v1/progress</c> reports; <paramref name="JobId"/> is null when idle.</summary>
sealed record ProgressSnapshot(string? JobId, int JobNo, double Fraction, double EtaSeconds, int Step, int TotalSteps, int JobCount, bool Interrupted, DateTime? Started);
