using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Latent.Pipeline.Metadata;

// A bounded load against `latent serve` (or a load balancer in front of replicas): REQUESTS txt2img calls, CONCURRENCY
// at a time, request i with its own prompt ("... request i") and seed i. Every answer is checked to be a 200 with one
// PNG whose parameters chunk carries that prompt and seed (the client got its own image), request ids must be
// distinct (nothing answered twice), and every request must be answered (nothing lost). Prints throughput, p50/p95
// latency and the answers per upstream (nginx's X-Upstream header); exits 1 when a check fails.
//   latent-bench-serve-load URL [REQUESTS=200] [CONCURRENCY=8] [STEPS=10]
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: latent-bench-serve-load URL [REQUESTS=200] [CONCURRENCY=8] [STEPS=10]");
    return 2;
}
var url = new Uri(args[0]);
int requests = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
int concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
int steps = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 10;

using var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromMinutes(10) };
var latencies = new ConcurrentBag<double>();
var failures = new ConcurrentBag<string>();
var ids = new ConcurrentDictionary<string, int>();
var upstreams = new ConcurrentDictionary<string, int>();
int next = -1;
var wall = Stopwatch.StartNew();

async Task Worker()
{
    for (int i = Interlocked.Increment(ref next); i < requests; i = Interlocked.Increment(ref next))
    {
        string prompt = $"a smiling face, request {i}";
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await client.PostAsJsonAsync("sdapi/v1/txt2img", new { prompt, seed = i, steps, sampler_name = "DDIM" });
            string text = await response.Content.ReadAsStringAsync();
            clock.Stop();
            if (!response.IsSuccessStatusCode) { failures.Add($"request {i}: {(int)response.StatusCode} {text[..Math.Min(200, text.Length)]}"); continue; }
            string id = response.Headers.TryGetValues("X-Request-Id", out var v) ? v.Single() : $"missing-{i}";
            if (!ids.TryAdd(id, i)) failures.Add($"request {i}: id {id} already answered request {ids[id]}");
            string upstream = response.Headers.TryGetValues("X-Upstream", out var u) ? u.Single() : "direct";
            upstreams.AddOrUpdate(upstream, 1, (_, n) => n + 1);
            var images = JsonNode.Parse(text)!["images"]!.AsArray();
            if (images.Count != 1) { failures.Add($"request {i}: {images.Count} images; expected 1"); continue; }
            GenerationParameters p = GenerationParameters.Parse(PngText.Get(Convert.FromBase64String((string)images[0]!), GenerationParameters.PngKeyword)!);
            if (p.Seed != i || p.Prompt != prompt) failures.Add($"request {i}: got the image of seed {p.Seed}, prompt '{p.Prompt}'");
            latencies.Add(clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) { failures.Add($"request {i}: {e.GetType().Name}: {e.Message}"); }
    }
}

await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Worker)));
wall.Stop();
double[] sorted = [.. latencies.Order()];
double Quantile(double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{requests} requests, concurrency {concurrency}, {steps} steps: {sorted.Length} ok, {failures.Count} failed, in {wall.Elapsed.TotalSeconds:F1} s"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"throughput {sorted.Length / wall.Elapsed.TotalSeconds:F2} images/s; latency p50 {Quantile(0.5):F2} s, p95 {Quantile(0.95):F2} s, max {(sorted.Length > 0 ? sorted[^1] : double.NaN):F2} s"));
Console.WriteLine($"answers per upstream: {string.Join(", ", upstreams.OrderBy(u => u.Key).Select(u => $"{u.Key} {u.Value}"))}");
Console.WriteLine($"distinct request ids: {ids.Count} (lost: {requests - ids.Count}, answered twice: {ids.Count - ids.Values.Distinct().Count()})");
foreach (string f in failures.Take(10)) Console.WriteLine($"  {f}");
return failures.IsEmpty && ids.Count == requests ? 0 : 1;
