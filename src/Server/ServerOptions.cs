using System.Net;

namespace Latent.Server;

/// <summary>How <see cref="LatentServer"/> listens and what it accepts; the defaults are the safe ones.</summary>
public sealed record ServerOptions
{
    /// <summary>The address to bind: an IP address or <c>localhost</c>. 127.0.0.1 (the default) is reachable only from this machine.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The TCP port; 0 picks a free one (see <see cref="LatentServer.Address"/>). 7860 is AUTOMATIC1111's.</summary>
    public int Port { get; init; } = 7860;

    /// <summary>
    /// HTTP basic credentials as AUTOMATIC1111's <c>--api-auth</c>: <c>user:pass</c>, several separated by commas. Required
    /// when <see cref="Host"/> is not a loopback address; when set, every endpoint but <c>/health</c> asks for them.
    /// </summary>
    public string? ApiAuth { get; init; }

    /// <summary>Requests that may wait behind the running one; one more gets 503 with Retry-After. 16: a minute's work for the emoji model.</summary>
    public int QueueCapacity { get; init; } = 16;

    /// <summary>The largest request body in bytes: 16 MiB holds a 2048x2048 PNG as base64 in <c>init_images</c>.</summary>
    public long MaxBodyBytes { get; init; } = 16L << 20;

    /// <summary>The most denoising steps a request may ask for: 150, AUTOMATIC1111's UI limit.</summary>
    public int MaxSteps { get; init; } = 150;

    /// <summary>The most images one request may ask for (batch_size x n_iter): 16.</summary>
    public int MaxImages { get; init; } = 16;

    /// <summary>The largest width or height in pixels: 2048, AUTOMATIC1111's UI limit.</summary>
    public int MaxSide { get; init; } = 2048;

    /// <summary>Where the one line per request goes; null: standard output.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Whether <see cref="Host"/> is a loopback address (or <c>localhost</c>).</summary>
    public bool IsLoopback => Host == "localhost" || (IPAddress.TryParse(Host, out IPAddress? ip) && IPAddress.IsLoopback(ip));

    /// <summary>Checks every value; the message names the option, the value and what is expected.</summary>
    /// <exception cref="ArgumentException">A value is out of range, or a non-loopback host has no <see cref="ApiAuth"/>.</exception>
    public void Validate()
    {
        if (Host != "localhost" && !IPAddress.TryParse(Host, out _))
            throw new ArgumentException($"host '{Host}' is not an IP address; expected e.g. 127.0.0.1, 0.0.0.0, ::1 or localhost", nameof(Host));
        if (Port is < 0 or > 65535)
            throw new ArgumentException($"port {Port} is out of range; expected 0 to 65535", nameof(Port));
        if (!IsLoopback && ApiAuth is null)
            throw new ArgumentException($"host {Host} is reachable from other machines; set --api-auth user:pass (HTTP basic) to serve on it", nameof(ApiAuth));
        if (ApiAuth is not null) _ = BasicAuth.ParseCredentials(ApiAuth);
        Positive(QueueCapacity, nameof(QueueCapacity));
        Positive(MaxSteps, nameof(MaxSteps));
        Positive(MaxImages, nameof(MaxImages));
        Positive(MaxSide, nameof(MaxSide));
        if (MaxBodyBytes < 1024)
            throw new ArgumentException($"the body limit is {MaxBodyBytes} bytes; expected at least 1024", nameof(MaxBodyBytes));
    }

    static void Positive(int value, string name)
    {
        if (value < 1) throw new ArgumentException($"{name} is {value}; expected at least 1", name);
    }
}
