using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Latent.Server;

/// <summary>
/// The counters behind <c>/metrics</c>, rendered in Prometheus' text exposition format (version 0.0.4).
/// </summary>
/// <remarks>
/// Hand-written rather than prometheus-net: five series need about forty lines, and prometheus-net's default registry
/// is process-wide static state, so two servers in one process (the tests start many) would share their counts.
/// </remarks>
sealed class ServerMetrics
{
    /// <summary>The paths counted under their own label; anything else is counted as "other", so a scan cannot grow the series.</summary>
    static readonly string[] KnownPaths =
    [
        "/", "/health", "/metrics", "/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/progress", "/sdapi/v1/interrupt",
        "/sdapi/v1/samplers", "/sdapi/v1/sd-models", "/sdapi/v1/options",
    ];

    readonly ConcurrentDictionary<(string Path, int Code), long> requests = new();
    readonly ConcurrentDictionary<string, long> jobs = new();
    readonly object gate = new();
    long images;
    double imageSeconds, jobSeconds;
    long timedJobs;

    /// <summary>Counts one answered request.</summary>
    public void Request(string path, int code)
    {
        string label = KnownPaths.Contains(path) ? path : "other";
        requests.AddOrUpdate((label, code), 1, (_, n) => n + 1);
    }

    /// <summary>Counts one finished job: its outcome (ok, interrupted, cancelled, failed), images and run time.</summary>
    public void Job(string outcome, int imageCount, TimeSpan ran)
    {
        jobs.AddOrUpdate(outcome, 1, (_, n) => n + 1);
        lock (gate)
        {
            if (imageCount > 0)
            {
                images += imageCount;
                imageSeconds += ran.TotalSeconds;
                jobSeconds += ran.TotalSeconds;
                timedJobs++;
            }
        }
    }

    /// <summary>Mean seconds per finished job (1 before the first), for Retry-After.</summary>
    public double MeanJobSeconds
    {
        get { lock (gate) return timedJobs == 0 ? 1 : jobSeconds / timedJobs; }
    }

    /// <summary>Jobs counted with <paramref name="outcome"/> so far.</summary>
    public long Jobs(string outcome) => jobs.GetValueOrDefault(outcome);

    /// <summary>The text page: requests by path and code, queue length, jobs by outcome, seconds per image.</summary>
    public string Render(int queueLength)
    {
        var text = new StringBuilder();
        Header(text, "latent_http_requests_total", "counter", "HTTP requests answered, by path and status code.");
        foreach (var ((path, code), n) in requests.OrderBy(r => r.Key.Path, StringComparer.Ordinal).ThenBy(r => r.Key.Code))
            text.Append(CultureInfo.InvariantCulture, $"latent_http_requests_total{{path=\"{path}\",code=\"{code}\"}} {n}\n");
        Header(text, "latent_queue_length", "gauge", "Requests waiting for the pipeline, not counting the running one.");
        text.Append(CultureInfo.InvariantCulture, $"latent_queue_length {queueLength}\n");
        Header(text, "latent_jobs_total", "counter", "Generation jobs by outcome: ok, interrupted, cancelled (client gone), failed.");
        foreach (var (outcome, n) in jobs.OrderBy(j => j.Key, StringComparer.Ordinal))
            text.Append(CultureInfo.InvariantCulture, $"latent_jobs_total{{outcome=\"{outcome}\"}} {n}\n");
        Header(text, "latent_image_seconds", "summary", "Pipeline seconds per image: each finished job's run time spread over its images.");
        lock (gate)
        {
            text.Append(CultureInfo.InvariantCulture, $"latent_image_seconds_sum {imageSeconds.ToString("R", CultureInfo.InvariantCulture)}\n");
            text.Append(CultureInfo.InvariantCulture, $"latent_image_seconds_count {images}\n");
        }
        return text.ToString();
    }

    static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
}
