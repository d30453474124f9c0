using Latent.Core.Engine;
using Latent.Pipeline.Denoising;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline;

// The recipe: text-to-image and image-to-image run the same numbered steps and differ only in their timesteps and
// starting latents (diffusers' StableDiffusionPipeline and StableDiffusionImg2ImgPipeline __call__).
public sealed partial class StableDiffusionPipeline
{
    /// <summary>Generates images from text: diffusers' <c>StableDiffusionPipeline.__call__</c>.</summary>
    /// <param name="request">The prompts and settings.</param>
    /// <param name="progress">Told after each denoising step, synchronously on this thread.</param>
    /// <param name="cancellationToken">Checked before each step: a cancelled call stops within one step.</param>
    /// <returns>B = prompts x images per prompt images; the caller disposes the result.</returns>
    /// <exception cref="ArgumentException">A setting is out of range (an empty prompt, a size that is not a multiple of <see cref="SizeMultiple"/>, ...); the message names the value and what is expected.</exception>
    /// <exception cref="NotSupportedException">No scheduler is named and the folder's scheduler class is not implemented.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            var (width, height) = Validate(request);
            GenerationRequest g = request with { Width = width, Height = height };
            long[] latentShape = [g.Prompts.Count * g.ImagesPerPrompt, unetConfig.InChannels, height / VaeScaleFactor, width / VaeScaleFactor];
            if (g.Latents is { } given && !given.shape.SequenceEqual(latentShape))
                throw new ArgumentException($"Latents has shape [{string.Join(", ", given.shape)}]; expected [{string.Join(", ", latentShape)}] for {latentShape[0]} images of {width}x{height}", nameof(request));
            // Every timestep; x_T = InitNoiseSigma * N(0, I), one draw of [B, C, h, w] from the one generator (or the given latents).
            var start = new Start(
                scheduler => scheduler.Timesteps,
                (scheduler, _, generator) =>
                {
                    Tensor x = g.Latents is { } l ? l.to(ScalarType.Float32, Device).clone() : randn(latentShape, ScalarType.Float32, generator: generator).to(Device);
                    using var initNoiseSigma = scheduler.InitNoiseSigma.ToScalar();
                    return x.mul(initNoiseSigma);
                });
            return Run(g, strength: null, start, progress, cancellationToken);
        }
    }

    /// <summary>Changes an image as the prompt says (SDEdit): diffusers' <c>StableDiffusionImg2ImgPipeline.__call__</c>.</summary>
    /// <param name="request">The image, the strength, and the prompts and settings.</param>
    /// <param name="progress">Told after each denoising step, synchronously on this thread.</param>
    /// <param name="cancellationToken">Checked before each step.</param>
    /// <returns>B = prompts x images per prompt images of the input's size; the caller disposes the result.</returns>
    /// <exception cref="ArgumentException">A setting or the image is out of range; the message names the value and what is expected.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public GenerationResult ImageToImage(ImageToImageRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Generation, nameof(request.Generation));
        ArgumentNullException.ThrowIfNull(request.Image, nameof(request.Image));
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            // The image fixes the size; the strength is in [0, 1].
            Tensor image = request.Image;
            if (!(image.dim() == 3 || (image.dim() == 4 && image.shape[0] == 1)) || image.shape[^3] != 3)
                throw new ArgumentException($"Image has shape [{string.Join(", ", image.shape)}]; expected [3, H, W] or [1, 3, H, W]", nameof(request));
            int height = (int)image.shape[^2], width = (int)image.shape[^1];
            GenerationRequest g = request.Generation;
            if ((g.Width != 0 && g.Width != width) || (g.Height != 0 && g.Height != height))
                throw new ArgumentException($"Width x Height is {g.Width}x{g.Height} but the image is {width}x{height}; expected 0 or the image's size", nameof(request));
            if (g.Latents is not null)
                throw new ArgumentException("Latents is set; image-to-image starts from the image, expected null", nameof(request));
            if (!(request.Strength >= 0 && request.Strength <= 1))
                throw new ArgumentException($"Strength is {request.Strength}; expected a value in [0, 1]", nameof(request));
            g = g with { Width = width, Height = height };
            Validate(g);
            // The last floor(steps * strength) timesteps; z_0 = scaling_factor * a posterior sample of the image,
            // [1, C, h, w] -> [B, C, h, w], noised to the first of them with one draw of [B, C, h, w] from the same generator.
            var start = new Start(
                scheduler => scheduler.TimestepsForStrength(request.Strength),
                (scheduler, timesteps, generator) =>
                {
                    Tensor latents = EncodeImage(image.reshape(1, 3, height, width), generator).expand(g.Prompts.Count * g.ImagesPerPrompt, -1, -1, -1).contiguous();
                    if (timesteps.Count == 0) return latents;
                    Tensor noise = randn(latents.shape, ScalarType.Float32, generator: generator).to(Device);
                    return scheduler.AddNoise(latents, noise, TimestepTensor(scheduler, timesteps[0]));
                });
            return Run(g, request.Strength, start, progress, cancellationToken);
        }
    }

    /// <summary>Where a call starts: its timesteps (after <c>SetTimesteps</c>) and its starting latents [B, C, h, w] float32.</summary>
    sealed record Start(Func<INoiseScheduler, IReadOnlyList<double>> Timesteps, Func<INoiseScheduler, IReadOnlyList<double>, Generator, Tensor> Latents);

    /// <summary>The recipe both calls share, on a validated request whose Width and Height are resolved.</summary>
    GenerationResult Run(GenerationRequest g, double? strength, Start start, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        // 1. The sampler, and guidance on or off (decided here, once): with s > 1 each step evaluates [uncond; cond] in one batch.
        SchedulerConfig schedulerConfig = SchedulerFor(g);
        SchedulerChecks.StepsFit(schedulerConfig, g.Steps, SchedulerSource);
        bool guided = g.GuidanceScale > 1.0;
        int batch = g.Prompts.Count * g.ImagesPerPrompt;
        if (g.ClassifierGuidance is { } cg && (cg.Images != batch || schedulerConfig.PredictionType != PredictionType.Epsilon))
            throw new ArgumentException($"classifier guidance has class sets for {cg.Images} images and the model predicts {schedulerConfig.PredictionType}; " +
                                        $"expected {batch} (prompts x images per prompt) and epsilon", nameof(g));

        // 2. The U-Net's engine: the one chosen at load, unless this call's activations only fit LibTorch's attention.
        IDenoiser denoiser = DenoiserFor(g.Width, g.Height, batch, guided);

        using var inference = new InferenceMode(BuiltModules());
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)g.Seed);
        using var scheduler = new SchedulerLease(NoiseSchedulers.Create(schedulerConfig, g.Eta));
        var timings = new StageTimings();

        // 3. Encode the prompts (and the negative prompt): [B, T, D], or [2B, T, D] = [uncond; cond].
        Tensor embeddings = timings.Time("text encoder", () => EncodePrompts(g.Prompts, g.ImagesPerPrompt, guided ? g.NegativePrompt : null));

        // 4. The timesteps.
        scheduler.Value.SetTimesteps(g.Steps);
        IReadOnlyList<double> timesteps = start.Timesteps(scheduler.Value);

        // 5. The starting latents: [B, C, h, w] float32.
        Tensor latents = start.Latents(scheduler.Value, timesteps, generator);

        // 6. The denoising loop.
        latents = timings.Time($"denoising ({timesteps.Count} U-Net calls)",
            () => Denoise(denoiser, scheduler.Value, timesteps, latents, embeddings, guided ? g.GuidanceScale : null, g.ClassifierGuidance, generator, progress, cancellationToken));

        // 7. Decode with the VAE: [B, 3, H, W] in [-1, 1].
        Tensor images = timings.Time("VAE decode", () => DecodeLatents(latents).MoveToOuterDisposeScope());
        var settings = new GenerationSettings(g, schedulerConfig, ModelName, loras, loraHashes, strength);
        return new GenerationResult(images, Enumerable.Repeat(g.Seed, batch).ToArray(), settings) { Timings = timings };
    }

    /// <summary>The denoising loop: per step scale the input, one U-Net call, guidance, one scheduler step.</summary>
    /// <remarks><c>guidanceScale</c> is s, or null without guidance (the embeddings then hold the prompts only);
    /// <c>classifierGuidance</c> shifts each step's epsilon by a classifier's gradient (issue 25), or null.</remarks>
    Tensor Denoise(IDenoiser denoiser, INoiseScheduler scheduler, IReadOnlyList<double> timesteps, Tensor latents, Tensor embeddings, double? guidanceScale,
        ClassifierGuidance? classifierGuidance, Generator generator, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        using var s = (guidanceScale ?? 1.0).ToScalar();   // the guidance scale s, held for the whole loop
        // The text's keys and values in every cross-attention are the same at every step: computed once here.
        using IDenoising unet = denoiser.Begin(embeddings);
        for (int i = 0; i < timesteps.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double t = timesteps[i];
            using (var step = NewDisposeScope())
            {
                // latents: [B, C, h, w] -> model input [2B, C, h, w] with guidance (uncond first), else [B, C, h, w]
                Tensor input = guidanceScale is null ? latents : cat([latents, latents]);
                input = scheduler.ScaleModelInput(input, t);
                UNetCalled?.Invoke(input.shape);
                Tensor noise = unet.Forward(input, TimestepTensor(scheduler, t));
                // noise: [2B, C', h, w] -> eps = uncond + s (cond - uncond): [B, C', h, w] (C' = C, or 2C with a learned variance)
                if (guidanceScale is not null) noise = GuidedOutput.ClassifierFree(noise, s, latents.shape[1]);
                // issue 25, classifier guidance: eps^ = eps - sqrt(1 - alpha_bar_t) s grad log p(y | x_t), x_t as the U-Net saw it
                if (classifierGuidance is not null) noise = classifierGuidance.Apply(noise, scheduler.ScaleModelInput(latents, t), t, scheduler.Schedule);
                noise = GuidedOutput.ForScheduler(noise, scheduler, latents.shape[1]);   // issue 25: the variance half where it is used
                Tensor next = scheduler.Step(noise, t, latents, generator).MoveToOuterDisposeScope();
                latents.Dispose();
                latents = next;
            }
            progress?.Report(new GenerationProgress(i + 1, timesteps.Count, t));
        }
        return latents;
    }

    /// <summary>The prompts' text states, each repeated per image, with the negative prompt's first when guiding: [B, T, D] or [2B, T, D].</summary>
    Tensor EncodePrompts(IReadOnlyList<string> prompts, int imagesPerPrompt, string? negativePrompt)
    {
        // prompts -> [P, T, D] -> [P * n, T, D] (each prompt's images together, as diffusers' repeat + view)
        Tensor cond = EncodeText(prompts).repeat_interleave(imagesPerPrompt, dim: 0);
        if (negativePrompt is null) return cond;
        // negative -> [1, T, D] -> [B, T, D]; then [uncond; cond]: [2B, T, D]
        Tensor uncond = (negativePrompt.Length == 0 ? EmptyPromptStates() : EncodeText([negativePrompt])).expand(cond.shape[0], -1, -1);
        return cat([uncond, cond]);
    }

    /// <summary>
    /// The empty prompt's states [1, T, D] (the unconditional branch of every guided call without a negative prompt),
    /// encoded once per model. Only a pipeline that owns its modules keeps them: a trainer's modules change under it.
    /// <see cref="SetLoras"/> drops them (a LoRA may change the text encoder).
    /// </summary>
    Tensor EmptyPromptStates()
    {
        if (!ownsModules) return EncodeText([""]);
        return emptyPromptStates ??= EncodeText([""]).DetachFromDisposeScope();
    }

    // SD 1.x: pad with the tokenizer's pad token (eos) to model_max_length, truncate; the last hidden state.
    Tensor EncodeText(IReadOnlyList<string> texts)
    {
        TextEncoderCalls++;
        var (ids, mask) = tokenizer.EncodeBatch(texts);
        using (ids)
        using (mask)
            return (onnxText?.Forward(ids) ?? TextEncoderModule.forward(ids.to(Device))).to(UNetDtype, Device);
    }

    // z_0 = scaling_factor * a posterior sample of [1, 3, H, W] pixels: [1, C, h, w] float32.
    Tensor EncodeImage(Tensor pixels, Generator generator)
    {
        using var posterior = onnxVae?.Encode(pixels) ?? VaeModule.Encode(pixels.to(VaeDtype, Device));
        return posterior.Sample(generator).to(ScalarType.Float32).mul(Scalars.Of(vaeConfig.ScalingFactor));
    }

    // images = vae.decode(z / scaling_factor), clamped to [-1, 1]: [B, C, h, w] -> [B, 3, H, W] float32.
    Tensor DecodeLatents(Tensor latents)
    {
        Tensor z = latents.div(Scalars.Of(vaeConfig.ScalingFactor));
        return (onnxVae?.Decode(z) ?? VaeModule.Decode(z.to(VaeDtype))).to(ScalarType.Float32, Device).clamp(Scalars.Of(-1), Scalars.Of(1));
    }

    (int Width, int Height) Validate(GenerationRequest r)
    {
        if (r.Prompts is null || r.Prompts.Count == 0)
            throw new ArgumentException("Prompts is empty; expected at least one prompt", nameof(r.Prompts));
        for (int i = 0; i < r.Prompts.Count; i++)
            if (string.IsNullOrWhiteSpace(r.Prompts[i]))
                throw new ArgumentException($"prompt {i} is empty; expected text (e.g. \"a photo of a cat\")", nameof(r.Prompts));
        ArgumentNullException.ThrowIfNull(r.NegativePrompt, nameof(r.NegativePrompt));
        int maxSteps = SchedulerConfig.NumTrainTimesteps;
        if (r.Steps < 1 || r.Steps > maxSteps)
            throw new ArgumentException($"steps is {r.Steps}; expected 1 to {maxSteps}", nameof(r.Steps));
        if (!double.IsFinite(r.GuidanceScale))
            throw new ArgumentException($"guidance scale is {r.GuidanceScale}; expected a finite number (e.g. 7.5; at most 1 turns guidance off)", nameof(r.GuidanceScale));
        if (r.Seed < 0)
            throw new ArgumentException($"seed is {r.Seed}; expected 0 or more", nameof(r.Seed));
        if (r.ImagesPerPrompt < 1)
            throw new ArgumentException($"images per prompt is {r.ImagesPerPrompt}; expected at least 1", nameof(r.ImagesPerPrompt));
        if (!(r.Eta >= 0 && r.Eta <= 1))
            throw new ArgumentException($"eta is {r.Eta}; expected a value in [0, 1]", nameof(r.Eta));
        int width = r.Width == 0 ? DefaultSize : r.Width, height = r.Height == 0 ? DefaultSize : r.Height;
        CheckSide("width", width);
        CheckSide("height", height);
        return (width, height);
    }

    void CheckSide(string name, int value)
    {
        int m = SizeMultiple;
        if (value <= 0 || value % m != 0)
        {
            // In long: the next multiple above int.MaxValue would wrap to a negative size; suggest only sizes that exist.
            long lower = Math.Max(value / m * m, m), upper = lower + m;
            string suggestion = upper <= int.MaxValue ? $"{lower} or {upper}" : $"{lower}";
            throw new ArgumentException(
                $"{name} {value} is not a positive multiple of {m} (VAE factor {VaeScaleFactor} x 2^{unetConfig.BlockOutChannels.Length - 1} for the U-Net's levels); " +
                $"expected e.g. {suggestion}", name);
        }
    }

    /// <summary>Whether <see cref="PipelineOptions.Runtime"/> was Auto: a call too large for ONNX Runtime's attention then runs on LibTorch.</summary>
    /// <summary>Whether <see cref="PipelineOptions.Runtime"/> was Auto: a call too large for ONNX Runtime's attention then runs on LibTorch.</summary>
    internal bool RuntimeWasAuto { get; init; }

    /// <summary>Test hook: the bytes a call may use (<see cref="ResourceEstimate.AvailableMemoryBytes"/>).</summary>
    internal Func<long> AvailableMemory { get; set; } = ResourceEstimate.AvailableMemoryBytes;

    // Refuses a request whose activations cannot fit in memory before any tensor of its size exists (ResourceEstimate);
    // returns the denoiser this call runs. ONNX Runtime's exported attention holds [B, heads, N, N] (19 GB at 512x512 on
    // the shipped model), LibTorch's fused kernel does not (1 GB): with Runtime Auto a call that only LibTorch can hold
    // runs there, at LibTorch's speed and with its float32 rounding (its U-Net built or read back first if needed).
    IDenoiser DenoiserFor(int width, int height, int images, bool guided)
    {
        long free = AvailableMemory();
        double Bytes(bool onnx) => ResourceEstimate.GenerationBytes(unetConfig, vaeConfig, width, height, images * (guided ? 2 : 1), images, onnx);
        string what = $"generating {images} image{(images == 1 ? "" : "s")} of {width}x{height}";
        if (denoiser is OrtDenoiser)
        {
            double onnx = Bytes(onnx: true);
            if (onnx <= free) return denoiser;
            if (!RuntimeWasAuto)
                ResourceEstimate.CheckFits(onnx, $"{what} on ONNX Runtime, whose attention holds [B, heads, N, N] (LibTorch's does not)", free);
        }
        ResourceEstimate.CheckFits(Bytes(onnx: false), what, free);
        return torchDenoiser;
    }

    SchedulerConfig SchedulerFor(GenerationRequest request)
    {
        if (request.Scheduler is { } kind) return kind.ConfigFor(SchedulerConfig);
        if (!SchedulerConfig.SupportedClassNames.Contains(SchedulerConfig.ClassName))
            throw new NotSupportedException(
                $"the model's scheduler {SchedulerConfig.ClassName ?? "(no _class_name)"} ({SchedulerSource}) is not implemented; choose a sampler: {string.Join(", ", SchedulerKinds.CliNames)}");
        return SchedulerConfig;
    }

    static Tensor TimestepTensor(INoiseScheduler scheduler, double t) =>
        scheduler.TimestepDtype == ScalarType.Int64 ? tensor((long)t) : tensor(t);
}
