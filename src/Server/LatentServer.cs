using System.Net;
using Latent.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Latent.Server;

/// <summary>
/// <c>latent serve</c>: AUTOMATIC1111's <c>/sdapi/v1</c> API and a web page over one loaded pipeline, on ASP.NET Core's
/// Kestrel. Requests wait in a bounded queue; one worker runs them one at a time (see <see cref="GenerationQueue"/>).
/// </summary>
/// <remarks>
/// The host is built empty (no appsettings files, environment variables or default logging are read): everything the
/// server does is in <see cref="ServerOptions"/>. The caller owns the pipeline and disposes it after the server.
/// </remarks>
public sealed class LatentServer : IAsyncDisposable
{
    readonly WebApplication app;
    int disposed;

    LatentServer(WebApplication app, GenerationQueue queue, ServerMetrics metrics, Uri address) =>
        (this.app, Queue, Metrics, Address) = (app, queue, metrics, address);

    /// <summary>Where the server listens, e.g. <c>http://127.0.0.1:7860/</c> (with the port picked when <see cref="ServerOptions.Port"/> is 0).</summary>
    public Uri Address { get; }

    internal GenerationQueue Queue { get; }
    internal ServerMetrics Metrics { get; }

    /// <summary>Validates <paramref name="options"/>, binds the port and starts serving <paramref name="pipeline"/>.</summary>
    /// <exception cref="ArgumentException">An option is out of range, or a non-loopback host has no API credentials.</exception>
    /// <exception cref="IOException">The port is taken.</exception>
    public static async Task<LatentServer> StartAsync(StableDiffusionPipeline pipeline, ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "Latent.Server" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (options.Host == "localhost") kestrel.ListenLocalhost(options.Port);
            else kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
        });
        builder.Services.AddRoutingCore();
        WebApplication app = builder.Build();

        var metrics = new ServerMetrics();
        var queue = new GenerationQueue(pipeline, options.QueueCapacity, metrics);
        TextWriter log = TextWriter.Synchronized(options.Log ?? Console.Out);
        app.Use(next => RequestLog.Middleware(next, log, metrics));
        if (options.ApiAuth is { } auth)
        {
            var allowed = BasicAuth.ParseCredentials(auth);
            app.Use(next => BasicAuth.Middleware(next, allowed));
        }
        app.UseRouting();
        new SdApi(pipeline, options, queue, metrics).Map(app);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            queue.Dispose();
            await app.DisposeAsync();
            throw;
        }
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new LatentServer(app, queue, metrics, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    /// <summary>Stops taking connections, cancels the running job, fails the waiting ones, and releases the port.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return;
        Queue.Dispose(); // first: the running job stops within a step and waiting requests are answered, so Kestrel need not wait for them
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
            await app.StopAsync(timeout.Token);
        await app.DisposeAsync();
    }
}
