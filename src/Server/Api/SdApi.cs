using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Latent.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Latent.Server;

/// <summary>AUTOMATIC1111's <c>/sdapi/v1</c> endpoints that Latent implements, plus <c>/health</c>, <c>/metrics</c> and the page at <c>/</c>.</summary>
sealed class SdApi(StableDiffusionPipeline pipeline, ServerOptions options, GenerationQueue queue, ServerMetrics metrics)
{
    const string Version = "latent 0.1.0";
    string ModelName => pipeline.ModelName ?? "model";

    public void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/sdapi/v1/txt2img", context => Generate(context, imageToImage: false));
        app.MapPost("/sdapi/v1/img2img", context => Generate(context, imageToImage: true));
        app.MapGet("/sdapi/v1/progress", Progress);
        app.MapPost("/sdapi/v1/interrupt", context =>
        {
            context.Items[RequestLog.OutcomeKey] = queue.Interrupt() ? "interrupted" : "idle";
            return context.Response.WriteAsJsonAsync(new { }, Json.Options);
        });
        app.MapGet("/sdapi/v1/samplers", context => context.Response.WriteAsJsonAsync(
            SamplerNames.A1111.Select(s => new { name = s.Name, aliases = s.Aliases, options = new Dictionary<string, string>() }), Json.Options));
        app.MapGet("/sdapi/v1/sd-models", context => context.Response.WriteAsJsonAsync(
            new[] { new { title = ModelName, model_name = ModelName, hash = (string?)null, sha256 = (string?)null, filename = ModelName, config = (string?)null } }, Json.Options));
        app.MapGet("/sdapi/v1/options", context => context.Response.WriteAsJsonAsync(
            new { sd_model_checkpoint = ModelName, samples_format = "png" }, Json.Options));
        app.MapGet("/health", context => context.Response.WriteAsJsonAsync(
            new { status = "ok", model = ModelName, queue = queue.Waiting, queue_capacity = options.QueueCapacity }, Json.Options));
        app.MapGet("/metrics", context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return context.Response.WriteAsync(metrics.Render(queue.Waiting));
        });
        app.MapGet("/", Page);
    }

    async Task Generate(HttpContext context, bool imageToImage)
    {
        GenerationFields fields = await ReadBody(context);
        JobSpec spec = JobSpec.From(fields, imageToImage, pipeline, options);
        var job = new GenerationJob(RequestLog.Id(context), spec, context.RequestAborted);
        if (!queue.TryEnqueue(job))
        {
            spec.Dispose();
            context.Response.Headers.RetryAfter = queue.RetryAfterSeconds().ToString(CultureInfo.InvariantCulture);
            throw new ApiException(StatusCodes.Status503ServiceUnavailable, "queue", $"the queue is full ({options.QueueCapacity} requests wait); retry later");
        }
        JobResult result;
        try
        {
            result = await job.Done.Task;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            context.Items[RequestLog.OutcomeKey] = "cancelled (client gone)";
            return;
        }
        catch (ObjectDisposedException)
        {
            throw new ApiException(StatusCodes.Status503ServiceUnavailable, "server", "the server is stopping; retry (another replica may answer)");
        }
        catch (ArgumentException e)
        {
            // The request passed our checks but the pipeline refused it: still the client's field.
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, e.ParamName ?? "body", e.Message);
        }
        context.Items[RequestLog.DetailKey] = string.Create(CultureInfo.InvariantCulture,
            $"queue={result.Waited.TotalMilliseconds:F0}ms run={result.Ran.TotalMilliseconds:F0}ms images={result.Pngs.Count}");
        if (result.Interrupted) context.Items[RequestLog.OutcomeKey] = "interrupted";
        await context.Response.WriteAsJsonAsync(new
        {
            images = result.Pngs.Select(Convert.ToBase64String),
            parameters = spec.Fields,
            info = JsonSerializer.Serialize(Info(spec, result), Json.Options),
        }, Json.Options);
    }

    /// <summary>A1111's <c>info</c> (processing.py's <c>js()</c>): the first image's settings, then per-image lists.</summary>
    Dictionary<string, object?> Info(JobSpec spec, JobResult result)
    {
        var p = result.Parameters;
        GenerationRequest r = spec.Request;
        return new Dictionary<string, object?>
        {
            ["prompt"] = r.Prompts[0],
            ["all_prompts"] = p.Select(x => x.Prompt),
            ["negative_prompt"] = r.NegativePrompt,
            ["all_negative_prompts"] = p.Select(x => x.NegativePrompt),
            ["seed"] = r.Seed,
            ["all_seeds"] = p.Select(x => x.Seed),
            ["subseed"] = -1,
            ["all_subseeds"] = p.Select(_ => -1),
            ["subseed_strength"] = 0,
            ["width"] = r.Width,
            ["height"] = r.Height,
            ["sampler_name"] = spec.Fields.SamplerName,
            ["cfg_scale"] = r.GuidanceScale,
            ["steps"] = r.Steps,
            ["batch_size"] = r.ImagesPerPrompt,
            ["n_iter"] = spec.Iterations,
            ["restore_faces"] = false,
            ["sd_model_name"] = ModelName,
            ["sd_model_hash"] = null,
            ["seed_resize_from_w"] = -1,
            ["seed_resize_from_h"] = -1,
            ["denoising_strength"] = spec.InitImage is null ? null : spec.Strength,
            ["eta"] = r.Eta,
            ["extra_generation_params"] = new Dictionary<string, string>(),
            ["index_of_first_image"] = 0,
            ["infotexts"] = p.Select(x => x.Format()),
            ["styles"] = Array.Empty<string>(),
            ["job_timestamp"] = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture),
            ["clip_skip"] = 1,
            ["is_using_inpainting_conditioning"] = false,
            ["interrupted"] = result.Interrupted,
            ["version"] = Version,
        };
    }

    Task Progress(HttpContext context)
    {
        ProgressSnapshot s = queue.Progress();
        return context.Response.WriteAsJsonAsync(new
        {
            progress = s.Fraction,
            eta_relative = s.EtaSeconds,
            state = new
            {
                skipped = false,
                interrupted = s.Interrupted,
                job = s.JobId ?? "",
                job_count = s.JobCount,
                job_timestamp = (s.Started ?? DateTime.UtcNow).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture),
                job_no = s.JobNo,
                sampling_step = s.Step,
                sampling_steps = s.TotalSteps,
            },
            current_image = (string?)null,
            textinfo = s.JobId is null ? null : $"step {s.Step} of {s.TotalSteps}",
        }, Json.Options);
    }

    static async Task Page(HttpContext context)
    {
        await using Stream page = typeof(SdApi).Assembly.GetManifestResourceStream("wwwroot/index.html")
            ?? throw new InvalidOperationException("the web page is missing from the assembly (wwwroot/index.html)");
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'";
        await page.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    /// <summary>The JSON body as <see cref="GenerationFields"/>, within the size limit.</summary>
    /// <exception cref="ApiException">413 over the limit, 400 when not a JSON object, 422 naming a field of the wrong type.</exception>
    async Task<GenerationFields> ReadBody(HttpContext context)
    {
        long limit = options.MaxBodyBytes;
        if (context.Request.ContentLength is long length && length > limit)
            throw TooLarge(length, limit);
        using var buffer = new MemoryStream();
        try
        {
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(null, limit);
        }
        if (buffer.Length == 0)
            throw new ApiException(StatusCodes.Status400BadRequest, "body", "the body is empty; expected a JSON object, e.g. {\"prompt\": \"a cat\"}");
        // Syntax first (400: not JSON), then types (422: the field whose value has the wrong type).
        JsonDocument document;
        try { document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)); }
        catch (JsonException e) { throw new ApiException(StatusCodes.Status400BadRequest, "body", $"the body is not JSON: {e.Message}"); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ApiException(StatusCodes.Status400BadRequest, "body", $"the body is a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}; expected an object, e.g. {{\"prompt\": \"a cat\"}}");
            try
            {
                return document.Deserialize<GenerationFields>(Json.Options)!;
            }
            catch (JsonException e)
            {
                string field = FieldOf(e.Path) ?? "body";
                throw new ApiException(StatusCodes.Status422UnprocessableEntity, field, $"{field} has the wrong type; expected {Expected(field)}");
            }
        }
    }

    static ApiException TooLarge(long? length, long limit) => new(StatusCodes.Status413PayloadTooLarge, "body",
        $"the body is {(length is { } n ? $"{n} bytes" : "larger than the limit")}; this server accepts at most {limit} bytes (--max-body-mb)");

    // "$.steps" -> "steps", "$.init_images[0]" -> "init_images[0]"; "$" or none -> null (the body itself).
    static string? FieldOf(string? path) => path is { Length: > 2 } && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;

    static string Expected(string field)
    {
        string name = field.Split('[')[0];
        PropertyInfo? property = typeof(GenerationFields).GetProperties().FirstOrDefault(p => Json.Options.PropertyNamingPolicy!.ConvertName(p.Name) == name);
        Type? type = property is null ? null : Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        return type == typeof(string) ? "a string"
            : type == typeof(int) ? "an integer"
            : type == typeof(long) ? "an integer"
            : type == typeof(double) ? "a number"
            : type is not null && type.IsAssignableTo(typeof(System.Collections.IEnumerable)) ? "a list of base64 strings"
            : "another type";
    }
}
