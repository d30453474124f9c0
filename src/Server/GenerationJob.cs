using Latent.Pipeline.Metadata;
using System.Diagnostics;
using Latent.Core.Imaging;

namespace Latent.Server;

/// <summary>One request waiting for, or running on, the pipeline.</summary>
/// <param name="id">The request's id (as logged and sent in <c>X-Request-Id</c>).</param>
/// <param name="spec">What to generate; the job disposes it when it ends.</param>
/// <param name="aborted">The client's connection: cancelled when it goes away, which cancels the job within one step.</param>
sealed class GenerationJob(string id, JobSpec spec, CancellationToken aborted)
{
    readonly Stopwatch clock = Stopwatch.StartNew();

    public string Id { get; } = id;
    public JobSpec Spec { get; } = spec;
    public CancellationToken Aborted { get; } = aborted;

    /// <summary>Completes with the images, faults with the pipeline's error, or is cancelled when the client left.</summary>
    public TaskCompletionSource<JobResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Time since the job was queued.</summary>
    public TimeSpan Age => clock.Elapsed;
}

/// <summary>A finished job: base64-ready PNGs (each with its <c>parameters</c> chunk) and how they were made.</summary>
/// <param name="Pngs">The images in order, batch by batch.</param>
/// <param name="Parameters">Each image's settings (its A1111 infotext).</param>
/// <param name="Interrupted">True when <c>/sdapi/v1/interrupt</c> stopped it: the images are those of the batches that finished.</param>
/// <param name="Waited">Time in the queue.</param>
/// <param name="Ran">Time on the pipeline.</param>
sealed record JobResult(IReadOnlyList<byte[]> Pngs, IReadOnlyList<GenerationParameters> Parameters, bool Interrupted, TimeSpan Waited, TimeSpan Ran);
