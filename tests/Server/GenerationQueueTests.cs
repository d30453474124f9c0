using System.Net;
using System.Text.Json.Nodes;
using Latent.Pipeline;

namespace Latent.Server.Tests;

/// <summary>The queue under load: full, cancelled by a client that leaves, interrupted, failing, and shared by concurrent clients.</summary>
[Collection(ServerCollection.Name)]
public class GenerationQueueTests(ParityPipelineFixture fixture)
{
    readonly StableDiffusionPipeline pipeline = fixture.Pipeline;

    [Fact]
    public async Task QueueFull_Is503WithRetryAfter_AndTheQueuedRequestsStillFinish()
    {
        await using var server = await TestServer.Start(pipeline, new ServerOptions { QueueCapacity = 1 });
        using var release = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        server.Server.Queue.JobStarting = _ => { started.Set(); release.Wait(TimeSpan.FromSeconds(30)); };

        Task<HttpResponseMessage> running = server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 1 });
        await TestServer.Until(() => started.IsSet, "the first job to start");
        Task<HttpResponseMessage> waiting = server.Post("/sdapi/v1/txt2img", new { prompt = "a dog", steps = 1 });
        await TestServer.Until(() => server.Server.Queue.Waiting == 1, "the second job to queue");

        using var refused = await server.Post("/sdapi/v1/txt2img", new { prompt = "a bird", steps = 1 });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("queue", (string)(await TestServer.Json(refused))["field"]!);
        JsonNode progress = await TestServer.Json(await server.Client.GetAsync("/sdapi/v1/progress"));
        Assert.Equal(2, (int)progress["state"]!["job_count"]!);

        release.Set();
        Assert.Single((await TestServer.Images(await running)).Pngs);
        Assert.Single((await TestServer.Images(await waiting)).Pngs);
    }

    [Fact]
    public async Task ClientDisconnect_CancelsItsRunningJobWithinOneStep_AndTheNextJobRuns()
    {
        await using var server = await TestServer.Start(pipeline);
        var steps = new List<int>();
        using var atStep2 = new ManualResetEventSlim();
        server.Server.Queue.StepDone = (job, step) =>
        {
            lock (steps) steps.Add(step);
            if (step != 2) return;
            atStep2.Set();
            job.Aborted.WaitHandle.WaitOne(TimeSpan.FromSeconds(30));     // hold the worker until the server sees the client leave
        };
        using var client = new CancellationTokenSource();
        Task<HttpResponseMessage> leaving = server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 50 }, client.Token);
        await TestServer.Until(() => atStep2.IsSet, "step 2");
        client.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        await TestServer.Until(() => server.Server.Metrics.Jobs("cancelled") == 1, "the job to be cancelled");
        lock (steps) Assert.Equal([1, 2], steps);                          // no step after the one that saw the disconnect

        server.Server.Queue.StepDone = null;
        using var next = await server.Post("/sdapi/v1/txt2img", new { prompt = "a dog", steps = 2 });
        Assert.Single((await TestServer.Images(next)).Pngs);
        await TestServer.Until(() => server.Log.Contains("outcome=cancelled (client gone)"), "the cancelled request's log line");
    }

    [Fact]
    public async Task WaitingJobOfAClientThatLeft_IsSkipped()
    {
        await using var server = await TestServer.Start(pipeline);
        using var release = new ManualResetEventSlim();
        var ran = new List<string>();
        server.Server.Queue.JobStarting = job => { lock (ran) ran.Add(job.Spec.Request.Prompts[0]); release.Wait(TimeSpan.FromSeconds(30)); };
        Task<HttpResponseMessage> first = server.Post("/sdapi/v1/txt2img", new { prompt = "first", steps = 1 });
        await TestServer.Until(() => { lock (ran) return ran.Count == 1; }, "the first job to start");
        using var client = new CancellationTokenSource();
        Task<HttpResponseMessage> leaving = server.Post("/sdapi/v1/txt2img", new { prompt = "leaving", steps = 1 }, client.Token);
        await TestServer.Until(() => server.Server.Queue.Waiting == 1, "the second job to queue");
        client.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        await Task.Delay(200);                                              // let the server see the disconnect
        release.Set();
        (await first).Dispose();
        await TestServer.Until(() => server.Server.Metrics.Jobs("cancelled") == 1, "the skipped job");
        lock (ran) Assert.Equal(["first"], ran);
    }

    [Fact]
    public async Task FailingJob_Answers500_AndDoesNotHarmTheNext()
    {
        await using var server = await TestServer.Start(pipeline);
        server.Server.Queue.JobStarting = job =>
        {
            if (job.Spec.Request.Prompts[0] == "fail") throw new InvalidOperationException("the engine broke");
        };
        using var failed = await server.Post("/sdapi/v1/txt2img", new { prompt = "fail", steps = 1 });
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Contains("the engine broke", (string)(await TestServer.Json(failed))["error"]!);
        using var next = await server.Post("/sdapi/v1/txt2img", new { prompt = "a dog", steps = 1 });
        Assert.Single((await TestServer.Images(next)).Pngs);
        Assert.Equal(1, server.Server.Metrics.Jobs("failed"));
    }

    [Fact]
    public async Task Interrupt_StopsTheRunningJob_WhichAnswersTheBatchesThatFinished()
    {
        await using var server = await TestServer.Start(pipeline);
        using var atSecondBatch = new ManualResetEventSlim();
        using var interrupted = new ManualResetEventSlim();
        server.Server.Queue.StepDone = (_, step) =>
        {
            if (step != 3) return;                                          // batch 2's first step (2 steps per batch)
            atSecondBatch.Set();
            interrupted.Wait(TimeSpan.FromSeconds(30));
        };
        Task<HttpResponseMessage> job = server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 2, n_iter = 3 });
        await TestServer.Until(() => atSecondBatch.IsSet, "the second batch");
        JsonNode progress = await TestServer.Json(await server.Client.GetAsync("/sdapi/v1/progress"));
        Assert.Equal(0.5, (double)progress["progress"]!);                   // 3 of 6 steps
        Assert.Equal((3, 6), ((int)progress["state"]!["sampling_step"]!, (int)progress["state"]!["sampling_steps"]!));

        using var answer = await server.Post("/sdapi/v1/interrupt", "");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        interrupted.Set();
        var (pngs, info, _) = await TestServer.Images(await job);
        Assert.Single(pngs);                                                // batch 1 finished; batch 2 was stopped
        Assert.True((bool)info["interrupted"]!);
    }

    [Fact]
    public async Task ConcurrentClients_EachGetExactlyTheirOwnImages()
    {
        await using var server = await TestServer.Start(pipeline);
        var requests = Enumerable.Range(0, 6).Select(i => new { prompt = $"prompt number {i}", steps = 2, seed = 100 + i, batch_size = 1 + i % 2 }).ToArray();
        var alone = new List<List<byte[]>>();
        foreach (var r in requests)
            alone.Add((await TestServer.Images(await server.Post("/sdapi/v1/txt2img", r))).Pngs);

        var together = await Task.WhenAll(requests.Select(async r => (await TestServer.Images(await server.Post("/sdapi/v1/txt2img", r))).Pngs));
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(alone[i].Count, together[i].Count);
            for (int j = 0; j < alone[i].Count; j++) Assert.Equal(alone[i][j], together[i][j]);
        }
    }

    [Fact]
    public async Task Stopping_AnswersTheRunningRequest503_AndReleasesThePort()
    {
        await using var server = await TestServer.Start(pipeline);
        using var atStep1 = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        server.Server.Queue.StepDone = (_, step) => { if (step == 1) { atStep1.Set(); release.Wait(TimeSpan.FromSeconds(30)); } };
        Task<HttpResponseMessage> running = server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 20 });
        await TestServer.Until(() => atStep1.IsSet, "step 1");
        Task stopping = server.Server.DisposeAsync().AsTask();
        await Task.Delay(100);
        release.Set();
        using var answer = await running;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.Contains("the server is stopping", (string)(await TestServer.Json(answer))["error"]!);
        await stopping;
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, server.Server.Address.Port);
        listener.Start();                                                   // the port is free again
    }
}
