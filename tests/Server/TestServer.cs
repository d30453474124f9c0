using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Latent.Pipeline;

namespace Latent.Server.Tests;

/// <summary>The parity pipeline, loaded once for every server test (they share it, so they run one class at a time).</summary>
public sealed class ParityPipelineFixture : IDisposable
{
    public StableDiffusionPipeline Pipeline { get; } = StableDiffusionPipeline.Load(TestEnvironment.Parity);

    public void Dispose() => Pipeline.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ParityPipelineFixture>
{
    public const string Name = "Latent.Server.Tests parity pipeline";
}

/// <summary>A <see cref="LatentServer"/> on a free loopback port with a real <see cref="HttpClient"/>, and the log it writes.</summary>
sealed class TestServer : IAsyncDisposable
{
    readonly StringWriter log;

    TestServer(LatentServer server, StringWriter log)
    {
        (Server, this.log) = (server, log);
        Client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public LatentServer Server { get; }
    public HttpClient Client { get; }

    /// <summary>What the server logged so far.</summary>
    public string Log => log.ToString();

    /// <summary>Starts a server on a free port (the options' port is ignored) that logs into <see cref="Log"/>.</summary>
    public static async Task<TestServer> Start(StableDiffusionPipeline pipeline, ServerOptions? options = null)
    {
        var writer = new StringWriter();
        LatentServer server = await LatentServer.StartAsync(pipeline, (options ?? new ServerOptions()) with { Port = 0, Log = writer });
        return new TestServer(server, writer);
    }

    /// <summary>POSTs raw text as JSON.</summary>
    public Task<HttpResponseMessage> Post(string path, string json, CancellationToken cancellationToken = default) =>
        Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);

    /// <summary>POSTs an object as JSON.</summary>
    public Task<HttpResponseMessage> Post(string path, object body, CancellationToken cancellationToken = default) =>
        Client.PostAsJsonAsync(path, body, cancellationToken);

    public static async Task<JsonNode> Json(HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

    /// <summary>The images of a 200 answer, decoded from base64, and its parsed info.</summary>
    public static async Task<(List<byte[]> Pngs, JsonNode Info, JsonNode Body)> Images(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        JsonNode body = JsonNode.Parse(text)!;
        var pngs = body["images"]!.AsArray().Select(i => Convert.FromBase64String((string)i!)).ToList();
        JsonNode info = JsonNode.Parse((string)body["info"]!)!;
        return (pngs, info, body);
    }

    /// <summary>Waits until <paramref name="condition"/> holds (10 s at most).</summary>
    public static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited 10 s for {what}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }
}
