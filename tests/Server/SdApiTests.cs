using Latent.Pipeline.Metadata;
using System.Net;
using System.Text.Json.Nodes;
using Latent.Core.Imaging;
using Latent.Pipeline;
using Latent.Schedulers;
using static TorchSharp.torch;

namespace Latent.Server.Tests;

/// <summary>The /sdapi/v1 endpoints against a server on a free port, through a real HTTP client.</summary>
[Collection(ServerCollection.Name)]
public class SdApiTests(ParityPipelineFixture fixture)
{
    readonly StableDiffusionPipeline pipeline = fixture.Pipeline;

    [Fact]
    public async Task Txt2Img_AnswersA1111Shape_AndEachPngCarriesItsParameters()
    {
        await using var server = await TestServer.Start(pipeline);
        using var response = await server.Post("/sdapi/v1/txt2img",
            """{"prompt": "a cat", "negative_prompt": "blurry", "steps": 2, "cfg_scale": 5, "sampler_name": "Euler a", "seed": 7, "batch_size": 2, "n_iter": 2, "styles": [], "restore_faces": false, "unknown_field": {"x": 1}}""");
        var (pngs, info, body) = await TestServer.Images(response);

        Assert.Equal(4, pngs.Count);
        Assert.Equal(7, (long)info["seed"]!);
        Assert.Equal([7L, 7, 9, 9], info["all_seeds"]!.AsArray().Select(s => (long)s!));   // batch k: seed + k * batch_size
        Assert.Equal("Euler a", (string)body["parameters"]!["sampler_name"]!);
        Assert.Equal(2, (int)body["parameters"]!["n_iter"]!);
        var infotexts = info["infotexts"]!.AsArray().Select(t => (string)t!).ToList();
        for (int i = 0; i < pngs.Count; i++)
        {
            string text = PngText.Get(pngs[i], GenerationParameters.PngKeyword)!;
            Assert.Equal(infotexts[i], text);
            GenerationParameters p = GenerationParameters.Parse(text);
            Assert.Equal(("a cat", "blurry", 2, "Euler a", 5.0), (p.Prompt, p.NegativePrompt, p.Steps, p.Sampler, p.CfgScale));
            using Tensor image = ImageIO.Decode(pngs[i]);
            Assert.Equal(new long[] { 3, 32, 32 }, image.shape);                                // the model's size by default
        }
    }

    [Fact]
    public async Task Txt2Img_ImagesEqualTheLibrarysPngs_ForTheSameSeed()
    {
        await using var server = await TestServer.Start(pipeline);
        using var response = await server.Post("/sdapi/v1/txt2img", new { prompt = "a dog", steps = 2, seed = 11, sampler_name = "DDIM", width = 16, height = 24 });
        var (pngs, _, _) = await TestServer.Images(response);

        using GenerationResult expected = pipeline.Generate(new GenerationRequest
        {
            Prompts = ["a dog"], Steps = 2, Seed = 11, Scheduler = SchedulerKind.Ddim, GuidanceScale = 7, Width = 16, Height = 24,
        });
        using Tensor first = expected.Images[0];
        Assert.Equal(GenerationPng.Encode(first, expected.Parameters[0]), pngs[0]);
    }

    [Fact]
    public async Task Txt2Img_RandomSeed_IsReportedAndReproduces()
    {
        await using var server = await TestServer.Start(pipeline);
        using var first = await server.Post("/sdapi/v1/txt2img", new { prompt = "a dog", steps = 1, seed = -1 });
        var (pngs, info, body) = await TestServer.Images(first);
        long seed = (long)info["seed"]!;
        Assert.Equal(-1, (long)body["parameters"]!["seed"]!);                                 // echoed as sent, as A1111
        using var again = await server.Post("/sdapi/v1/txt2img", new { prompt = "a dog", steps = 1, seed });
        Assert.Equal(pngs[0], (await TestServer.Images(again)).Pngs[0]);
    }

    [Fact]
    public async Task Img2Img_TakesABase64DataUrl_AndAnswersImagesOfTheRequestedSize()
    {
        await using var server = await TestServer.Start(pipeline);
        using var start = TestTensors.UniformPixels([3, 20, 28], new Generator(3));
        string b64 = "data:image/png;base64," + Convert.ToBase64String(ImageIO.EncodePng(start));
        using var response = await server.Post("/sdapi/v1/img2img",
            new { init_images = new[] { b64 }, prompt = "a cat", steps = 4, denoising_strength = 0.5, width = 16, height = 16, seed = 2 });
        var (pngs, info, body) = await TestServer.Images(response);

        using Tensor image = ImageIO.Decode(Assert.Single(pngs));
        Assert.Equal(new long[] { 3, 16, 16 }, image.shape);
        Assert.Equal(0.5, (double)info["denoising_strength"]!);
        Assert.Null(body["parameters"]!["init_images"]);                                        // the upload is not echoed
        Assert.Contains("Denoising strength: 0.5", (string)info["infotexts"]![0]!);
    }

    [Theory]
    [InlineData("txt2img", """{"prompt": "a cat", "steps": 0}""", "steps")]
    [InlineData("txt2img", """{"prompt": "a cat", "steps": 151}""", "steps")]
    [InlineData("txt2img", """{"prompt": "a cat", "steps": "many"}""", "steps")]
    [InlineData("txt2img", """{"prompt": "a cat", "width": 30}""", "width")]
    [InlineData("txt2img", """{"prompt": "a cat", "height": 4096}""", "height")]
    [InlineData("txt2img", """{"prompt": "a cat", "sampler_name": "Heun"}""", "sampler_name")]
    [InlineData("txt2img", """{"prompt": "a cat", "sampler_index": "Heun"}""", "sampler_index")]
    [InlineData("txt2img", """{"prompt": "a cat", "sampler_name": "DDIM", "scheduler": "Karras"}""", "scheduler")]
    [InlineData("txt2img", """{"prompt": "a cat", "seed": -2}""", "seed")]
    [InlineData("txt2img", """{"prompt": "a cat", "cfg_scale": -1}""", "cfg_scale")]
    [InlineData("txt2img", """{"prompt": "a cat", "batch_size": 0}""", "batch_size")]
    [InlineData("txt2img", """{"prompt": "a cat", "batch_size": 17}""", "batch_size")]
    [InlineData("txt2img", """{"prompt": "a cat", "batch_size": 4, "n_iter": 5}""", "n_iter")]
    [InlineData("txt2img", """{"prompt": "a cat", "eta": 2}""", "eta")]
    [InlineData("txt2img", """{"prompt": "  "}""", "prompt")]
    [InlineData("txt2img", """{"prompt": ["a", "cat"]}""", "prompt")]
    [InlineData("txt2img", """{"prompt": "a\u0000cat"}""", "prompt")]
    [InlineData("txt2img", """{"prompt": "a cat\nNegative prompt: dogs"}""", "prompt")]
    [InlineData("txt2img", """{"prompt": "a cat", "negative_prompt": "x\u0000"}""", "negative_prompt")]
    [InlineData("img2img", """{"prompt": "a cat"}""", "init_images")]
    [InlineData("img2img", """{"prompt": "a cat", "init_images": "abc"}""", "init_images")]
    [InlineData("img2img", """{"prompt": "a cat", "init_images": ["not base64!"]}""", "init_images[0]")]
    [InlineData("img2img", """{"prompt": "a cat", "init_images": ["aGVsbG8gd29ybGQ="]}""", "init_images[0]")]
    [InlineData("img2img", """{"prompt": "a cat", "init_images": ["aGVsbG8="], "denoising_strength": 1.5}""", "denoising_strength")]
    public async Task BadField_Is422NamingIt(string endpoint, string body, string field)
    {
        await using var server = await TestServer.Start(pipeline);
        using var response = await server.Post($"/sdapi/v1/{endpoint}", body);
        JsonNode error = await TestServer.Json(response);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(field, (string)error["field"]!);
        Assert.Equal(["body", field], error["detail"]![0]!["loc"]!.AsArray().Select(l => (string)l!));
        Assert.False(string.IsNullOrEmpty((string)error["error"]!));
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[1, 2]")]
    [InlineData("{\"prompt\": ")]
    public async Task BodyNotAJsonObject_Is400(string body)
    {
        await using var server = await TestServer.Start(pipeline);
        using var response = await server.Post("/sdapi/v1/txt2img", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body", (string)(await TestServer.Json(response))["field"]!);
    }

    [Fact]
    public async Task BodyOverTheLimit_Is413NamingTheBody()
    {
        await using var server = await TestServer.Start(pipeline, new ServerOptions { MaxBodyBytes = 4096 });
        using var response = await server.Post("/sdapi/v1/txt2img", new { prompt = new string('a', 10_000) });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        JsonNode error = await TestServer.Json(response);
        Assert.Equal("body", (string)error["field"]!);
        Assert.Contains("at most 4096 bytes", (string)error["error"]!);
    }

    [Fact]
    public async Task ChunkedBodyOverTheLimit_Is413Too()
    {
        await using var server = await TestServer.Start(pipeline, new ServerOptions { MaxBodyBytes = 4096 });
        // No Content-Length: Kestrel's own limit stops the read.
        var content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes($"{{\"prompt\": \"{new string('a', 10_000)}\"}}")));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/sdapi/v1/txt2img") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("body", (string)(await TestServer.Json(response))["field"]!);
    }

    [Fact]
    public async Task InitImageOverTheSideLimit_Is422BeforeDecoding()
    {
        await using var server = await TestServer.Start(pipeline, new ServerOptions { MaxSide = 32 });
        using var big = TestTensors.UniformPixels([3, 40, 40], new Generator(1));
        using var response = await server.Post("/sdapi/v1/img2img", new { prompt = "a cat", init_images = new[] { Convert.ToBase64String(ImageIO.EncodePng(big)) } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("40x40", (string)(await TestServer.Json(response))["error"]!);
    }

    [Fact]
    public async Task Samplers_ListA1111Names_EachAccepted()
    {
        await using var server = await TestServer.Start(pipeline);
        var list = (await TestServer.Json(await server.Client.GetAsync("/sdapi/v1/samplers"))).AsArray();
        Assert.Equal(SamplerNames.A1111.Select(s => s.Name), list.Select(s => (string)s!["name"]!));
        Assert.Contains("k_euler_a", list.Single(s => (string)s!["name"]! == "Euler a")!["aliases"]!.AsArray().Select(a => (string)a!));
        using var karras = await server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 2, sampler_name = "DPM++ 2M", scheduler = "Karras" });
        var (_, info, _) = await TestServer.Images(karras);
        Assert.Contains("Sampler: DPM++ 2M Karras", (string)info["infotexts"]![0]!);
    }

    [Fact]
    public async Task SdModels_Options_Health_NameTheModel()
    {
        await using var server = await TestServer.Start(pipeline);
        var models = (await TestServer.Json(await server.Client.GetAsync("/sdapi/v1/sd-models"))).AsArray();
        Assert.Equal("parity", (string)Assert.Single(models)!["model_name"]!);
        Assert.Equal("parity", (string)(await TestServer.Json(await server.Client.GetAsync("/sdapi/v1/options")))["sd_model_checkpoint"]!);
        JsonNode health = await TestServer.Json(await server.Client.GetAsync("/health"));
        Assert.Equal(("ok", 0), ((string)health["status"]!, (int)health["queue"]!));
    }

    [Fact]
    public async Task Progress_WhenIdle_IsZeroWithNoJob()
    {
        await using var server = await TestServer.Start(pipeline);
        JsonNode p = await TestServer.Json(await server.Client.GetAsync("/sdapi/v1/progress"));
        Assert.Equal(0.0, (double)p["progress"]!);
        Assert.Equal("", (string)p["state"]!["job"]!);
        Assert.Equal(0, (int)p["state"]!["job_count"]!);
    }

    [Fact]
    public async Task Metrics_AreInPrometheusTextFormat_AndCountRequestsAndImages()
    {
        await using var server = await TestServer.Start(pipeline);
        (await server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 1, batch_size = 2 })).Dispose();
        (await server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 0 })).Dispose();
        string text = "";
        await TestServer.Until(() =>
        {
            // A request is counted after its answer is sent: poll until both are.
            using var response = server.Client.GetAsync("/metrics").GetAwaiter().GetResult();
            Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
            text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            return text.Contains("code=\"422\"} 1");
        }, "the metrics");
        Assert.Contains("latent_http_requests_total{path=\"/sdapi/v1/txt2img\",code=\"200\"} 1\n", text);
        Assert.Contains("latent_http_requests_total{path=\"/sdapi/v1/txt2img\",code=\"422\"} 1\n", text);
        Assert.Contains("# TYPE latent_queue_length gauge\nlatent_queue_length 0\n", text);
        Assert.Contains("latent_jobs_total{outcome=\"ok\"} 1\n", text);
        Assert.Contains("latent_image_seconds_count 2\n", text);
        // Every line is a comment or "name{labels} value".
        Assert.All(text.TrimEnd('\n').Split('\n'), line => Assert.Matches(@"^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [0-9.eE+-]+)$", line));
    }

    [Fact]
    public async Task Page_IsServedAtTheRoot_WithTheFormAndTheApiItCalls()
    {
        await using var server = await TestServer.Start(pipeline);
        using var response = await server.Client.GetAsync("/");
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        string html = await response.Content.ReadAsStringAsync();
        foreach (string part in new[] { "id=\"prompt\"", "id=\"negative_prompt\"", "id=\"steps\"", "id=\"cfg_scale\"", "id=\"seed\"", "id=\"sampler_name\"",
                     "id=\"width\"", "id=\"height\"", "id=\"batch_size\"", "id=\"generate\"", "<progress", "sdapi/v1/progress", "sdapi/v1/txt2img", "download" })
            Assert.Contains(part, html);
    }

    [Fact]
    public async Task UnknownPath_Is404_AndEveryRequestIsLoggedOnceWithItsId()
    {
        await using var server = await TestServer.Start(pipeline);
        using var missing = await server.Client.GetAsync("/sdapi/v1/nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var ok = await server.Post("/sdapi/v1/txt2img", new { prompt = "a cat", steps = 1 });
        string id = ok.Headers.GetValues("X-Request-Id").Single();
        await TestServer.Until(() => server.Log.Contains($"id={id}"), "the log line");
        string line = Assert.Single(server.Log.Split('\n'), l => l.Contains($"id={id}"));
        Assert.Matches(@"POST /sdapi/v1/txt2img 200 \d+ms queue=\d+ms run=\d+ms images=1 outcome=ok", line);
        Assert.Contains("GET /sdapi/v1/nothing 404", server.Log);
    }
}
