using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Latent.Server;

/// <summary>
/// The outermost middleware: gives each request an id (<c>X-Request-Id</c>), turns a refused request
/// (<see cref="ApiException"/>) or a crash into a JSON error, counts it for <c>/metrics</c>, and writes one line:
/// <c>2026-12-07T05:00:00.000Z id=3f2a9c01be7d POST /sdapi/v1/txt2img 200 412ms queue=3ms run=405ms images=1 outcome=ok</c>.
/// </summary>
static class RequestLog
{
    public const string OutcomeKey = "latent.outcome";
    public const string DetailKey = "latent.detail";

    public static RequestDelegate Middleware(RequestDelegate next, TextWriter log, ServerMetrics metrics) => async context =>
    {
        string id = Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
        context.Response.Headers["X-Request-Id"] = id;
        context.Items[nameof(RequestLog)] = id;
        var clock = Stopwatch.StartNew();
        try
        {
            await next(context);
        }
        catch (ApiException e) when (!context.Response.HasStarted)
        {
            await ApiError.Write(context, e.Status, e.Field, e.Message);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            context.Items[OutcomeKey] = "client gone";
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            // Whatever a client sent, the process goes on; the message says what failed, the stack stays here.
            await ApiError.Write(context, StatusCodes.Status500InternalServerError, "server", $"internal error ({e.GetType().Name}): {e.Message}");
            context.Items[OutcomeKey] = $"crash {e.GetType().Name}";
        }
        // 499 (nginx's "client closed request") when the client left before the answer.
        int status = context.RequestAborted.IsCancellationRequested ? 499 : context.Response.StatusCode;
        metrics.Request(context.Request.Path.Value ?? "", status);
        string outcome = context.Items[OutcomeKey] as string ?? (status < 400 ? "ok" : "error");
        string detail = context.Items[DetailKey] is string d ? " " + d : "";
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} id={id} {context.Request.Method} {context.Request.Path} {status} {clock.Elapsed.TotalMilliseconds:F0}ms{detail} outcome={outcome}"));
    };

    /// <summary>The id <see cref="Middleware"/> gave this request.</summary>
    public static string Id(HttpContext context) => context.Items[nameof(RequestLog)] as string ?? "-";
}
