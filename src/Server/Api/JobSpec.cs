using Latent.Core.Imaging;
using Latent.Pipeline;
using SkiaSharp;
using static TorchSharp.torch;

namespace Latent.Server;

/// <summary>What one accepted request asks of the pipeline: <see cref="Iterations"/> calls of <see cref="Request"/>, the seed advanced by the batch size each time.</summary>
/// <param name="Request">The first batch's request (its seed resolved; never -1).</param>
/// <param name="Iterations">A1111's <c>n_iter</c>.</param>
/// <param name="InitImage">img2img: the start image [3, H, W] in [-1, 1], owned by the job; null for txt2img.</param>
/// <param name="Strength">img2img: the denoising strength.</param>
/// <param name="Fields">The request as received with defaults filled in, returned as the response's <c>parameters</c>.</param>
sealed record JobSpec(GenerationRequest Request, int Iterations, Tensor? InitImage, double Strength, GenerationFields Fields) : IDisposable
{
    /// <summary>Images the job makes: batch size x iterations.</summary>
    public int Images => Request.ImagesPerPrompt * Iterations;

    public void Dispose() => InitImage?.Dispose();

    /// <summary>Checks an A1111 request against the model and the server's limits and resolves its defaults.</summary>
    /// <exception cref="ApiException">422 naming the first bad field.</exception>
    public static JobSpec From(GenerationFields f, bool imageToImage, StableDiffusionPipeline pipeline, ServerOptions limits)
    {
        string prompt = f.Prompt?.Trim() ?? "";
        if (prompt.Length == 0) throw Bad("prompt", "prompt is empty; expected text, e.g. \"a photo of a cat\"");
        CheckText("prompt", prompt);
        CheckText("negative_prompt", f.NegativePrompt ?? "");
        int maxSteps = Math.Min(limits.MaxSteps, pipeline.SchedulerConfig.NumTrainTimesteps);
        int steps = f.Steps ?? 50;
        if (steps < 1 || steps > maxSteps) throw Bad("steps", $"steps is {steps}; expected 1 to {maxSteps}");
        double cfg = f.CfgScale ?? 7.0;
        if (!double.IsFinite(cfg) || cfg < 0 || cfg > 100) throw Bad("cfg_scale", $"cfg_scale is {cfg}; expected a number from 0 to 100 (1 or less turns guidance off)");
        string? samplerField = f.SamplerName is { Length: > 0 } ? "sampler_name" : f.SamplerIndex is { Length: > 0 } ? "sampler_index" : null;
        string? samplerName = samplerField is null ? null : f.SamplerName is { Length: > 0 } ? f.SamplerName : f.SamplerIndex;
        var sampler = samplerName is null ? null : SamplerNames.ParseA1111(samplerName, f.Scheduler);
        if (samplerName is not null && sampler is null)
        {
            bool nameKnown = SamplerNames.ParseA1111(samplerName) is not null;
            throw nameKnown
                ? Bad("scheduler", $"scheduler '{f.Scheduler}' does not apply to {samplerName}; expected Automatic, Uniform, or Karras with Euler or DPM++ 2M")
                : Bad(samplerField!, $"{samplerField} '{samplerName}' is not a sampler here; expected one of {string.Join(", ", SamplerNames.A1111.Select(s => s.Name))}");
        }
        if (samplerName is null && f.Scheduler is { Length: > 0 } s && !s.Equals("automatic", StringComparison.OrdinalIgnoreCase))
            throw Bad("scheduler", $"scheduler '{s}' needs a sampler_name; expected e.g. \"sampler_name\": \"Euler\" with it");
        long seed = f.Seed ?? -1;
        if (seed < -1) throw Bad("seed", $"seed is {seed}; expected -1 (random) or 0 or more");
        if (seed == -1) seed = Random.Shared.NextInt64(0, 1L << 32);
        int width = Side("width", f.Width, pipeline, limits), height = Side("height", f.Height, pipeline, limits);
        int batch = f.BatchSize ?? 1, iterations = f.NIter ?? 1;
        if (batch < 1) throw Bad("batch_size", $"batch_size is {batch}; expected at least 1");
        if (iterations < 1) throw Bad("n_iter", $"n_iter is {iterations}; expected at least 1");
        if ((long)batch * iterations > limits.MaxImages)
            throw Bad(batch > limits.MaxImages ? "batch_size" : "n_iter", $"batch_size x n_iter is {batch} x {iterations} = {(long)batch * iterations} images; this server makes at most {limits.MaxImages} per request");
        double eta = f.Eta ?? 0;
        if (!(eta >= 0 && eta <= 1)) throw Bad("eta", $"eta is {eta}; expected a value in [0, 1]");
        double strength = f.DenoisingStrength ?? 0.75;
        if (imageToImage && !(strength >= 0 && strength <= 1)) throw Bad("denoising_strength", $"denoising_strength is {strength}; expected a value in [0, 1]");

        var request = new GenerationRequest
        {
            Prompts = [prompt],
            NegativePrompt = f.NegativePrompt?.Trim() ?? "",
            GuidanceScale = cfg,
            Steps = steps,
            Scheduler = sampler,
            Seed = seed,
            Width = width,
            Height = height,
            ImagesPerPrompt = batch,
            Eta = eta,
        };
        var fields = f with
        {
            Prompt = prompt, NegativePrompt = request.NegativePrompt, Steps = steps, CfgScale = cfg, Seed = f.Seed ?? -1,
            Width = width, Height = height, BatchSize = batch, NIter = iterations, Eta = eta,
            SamplerName = samplerName is null ? SamplerNames.For(pipeline.SchedulerConfig) : samplerName,
            DenoisingStrength = imageToImage ? strength : f.DenoisingStrength,
            InitImages = null, // as A1111 without include_init_images: the response does not echo the upload
        };
        Tensor? image = imageToImage ? DecodeInitImage(f.InitImages, width, height, limits) : null;
        return new JobSpec(request, iterations, image, strength, fields);
    }

    // What the PNG's parameters text cannot hold: refused here rather than after the images are made.
    static void CheckText(string field, string text)
    {
        if (text.Contains('\0')) throw Bad(field, $"{field} contains a NUL character; expected text");
        if (field == "prompt" && text.Split('\n').Any(l => l.TrimStart().StartsWith("Negative prompt:", StringComparison.Ordinal)))
            throw Bad(field, "a line of prompt starts with 'Negative prompt:'; send it as negative_prompt instead");
    }

    static int Side(string name, int? value, StableDiffusionPipeline pipeline, ServerOptions limits)
    {
        int side = value is null or 0 ? pipeline.DefaultSize : value.Value;
        int m = pipeline.SizeMultiple;
        if (side < m || side % m != 0 || side > limits.MaxSide)
            throw Bad(name, $"{name} is {side}; expected a multiple of {m} (the model's VAE and U-Net factor) from {m} to {limits.MaxSide / m * m}");
        return side;
    }

    /// <summary>The first of <c>init_images</c>, decoded and resized to width x height; bounded before decoding, so a small file cannot claim gigabytes.</summary>
    static Tensor DecodeInitImage(IReadOnlyList<string?>? images, int width, int height, ServerOptions limits)
    {
        if (images is null || images.Count == 0 || string.IsNullOrEmpty(images[0]))
            throw Bad("init_images", "init_images is empty; expected a list with one base64 image (PNG, JPEG, WebP)");
        const string field = "init_images[0]";
        string text = images[0]!;
        int comma = text.StartsWith("data:", StringComparison.Ordinal) ? text.IndexOf(',') : -1;
        if (comma >= 0) text = text[(comma + 1)..];
        byte[] bytes;
        try { bytes = Convert.FromBase64String(text); }
        catch (FormatException) { throw Bad(field, "init_images[0] is not base64; expected a base64 PNG, JPEG or WebP (optionally a data: URL)"); }
        using (var codec = SKCodec.Create(new MemoryStream(bytes)))
        {
            if (codec is null) throw Bad(field, $"init_images[0] is not an image ({bytes.Length} bytes starting {Convert.ToHexString(bytes, 0, Math.Min(8, bytes.Length))}); expected PNG, JPEG or WebP");
            long pixels = (long)codec.Info.Width * codec.Info.Height, most = (long)limits.MaxSide * limits.MaxSide;
            if (pixels > most) throw Bad(field, $"init_images[0] is {codec.Info.Width}x{codec.Info.Height}; expected at most {most} pixels ({limits.MaxSide}x{limits.MaxSide})");
        }
        try { return ImageIO.Decode(bytes, new ImageSize(width, height), field); }
        catch (InvalidDataException e) { throw Bad(field, e.Message); }
    }

    static ApiException Bad(string field, string message) => new(StatusCodes422, field, message);

    const int StatusCodes422 = 422;
}
