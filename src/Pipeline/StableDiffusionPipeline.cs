using System.Globalization;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Pipeline.Ort;
using Latent.Schedulers;
using Latent.Pipeline.SingleFile;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// Text-to-image and image-to-image with a latent diffusion model, as diffusers' <c>StableDiffusionPipeline</c> (0.21):
/// CLIP encodes the prompt, the U-Net denoises seeded latents under classifier-free guidance, the VAE decodes them.
/// </summary>
/// <remarks>
/// <para>Thread safety: one call runs at a time. <see cref="Generate"/> and <see cref="ImageToImage"/> take a lock, so
/// concurrent callers queue and each gets exactly the images it would get alone (the engine already uses every core
/// for one call). Do not use the modules elsewhere while a call runs.</para>
/// <para>A call switches the modules to evaluation mode and restores their mode afterwards, runs without gradients,
/// and frees every step's temporaries in a dispose scope.</para>
/// </remarks>
public sealed partial class StableDiffusionPipeline : IDisposable
{
    readonly AutoencoderKL vae;
    readonly ClipTextModel textEncoder;
    readonly ClipTokenizer tokenizer;
    readonly UNet2DConditionModel unet;
    OnnxRuntimeUNet? onnxUNet; // rebuilt when LoRAs change the U-Net's weights
    OnnxRuntimeTextEncoder? onnxText; // likewise for the text encoder
    OnnxRuntimeVae? onnxVae;
    readonly OnnxModelCache? onnxCache;
    Tensor? emptyPromptStates; // the empty negative prompt's text states, [1, T, D]; dropped when LoRAs change
    readonly bool ownsModules;
    readonly object gate = new();
    bool disposed;

    /// <summary>Builds a pipeline on existing modules (e.g. a trainer's), which it does not own: <see cref="Dispose"/> leaves them alone.</summary>
    /// <param name="vae">The VAE; its latent channels must equal the U-Net's in and out channels.</param>
    /// <param name="textEncoder">The text encoder; its hidden size must equal the U-Net's cross-attention width.</param>
    /// <param name="tokenizer">The tokenizer; its vocabulary and max length must fit the text encoder.</param>
    /// <param name="unet">The U-Net; any dtype (inputs are converted to it). A bf16 one needs an engine that passes <see cref="BFloat16Check"/>.</param>
    /// <param name="schedulerConfig">The model's noise schedule and default sampler (a <c>scheduler_config.json</c>).</param>
    /// <exception cref="ArgumentException">The components do not fit together; the message names both values.</exception>
    /// <exception cref="BFloat16InaccurateException">The U-Net is bf16 and this engine computes bf16 wrongly on this CPU.</exception>
    public StableDiffusionPipeline(AutoencoderKL vae, ClipTextModel textEncoder, ClipTokenizer tokenizer, UNet2DConditionModel unet, SchedulerConfig schedulerConfig)
        : this(vae, textEncoder, tokenizer, unet, schedulerConfig, ownsModules: false, UNetRuntime.LibTorch, UNetRuntime.LibTorch, null, null) { }

    StableDiffusionPipeline(AutoencoderKL vae, ClipTextModel textEncoder, ClipTokenizer tokenizer, UNet2DConditionModel unet, SchedulerConfig schedulerConfig,
        bool ownsModules, UNetRuntime runtime, UNetRuntime textAndVaeRuntime, OnnxModelCache? cache, StageTimings? timings, string? unetWeightsHash = null)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(textEncoder);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(schedulerConfig);
        CheckFit(vae, textEncoder, tokenizer, unet);
        TorchEngine.DisableNnpack(); // for apps that did not call TorchEngine.Initialize: no NNPACK warnings on stderr
        (this.vae, this.textEncoder, this.tokenizer, this.unet, SchedulerConfig, this.ownsModules) =
            (vae, textEncoder, tokenizer, unet, schedulerConfig, ownsModules);
        (Runtime, TextEncoderAndVaeRuntime, onnxCache) = (runtime, textAndVaeRuntime, cache);
        timings ??= new StageTimings();
        static string Hit(bool hit) => hit ? "optimised model from the cache" : "export + graph optimisation";
        try
        {
            if (runtime == UNetRuntime.OnnxRuntime)
                onnxUNet = timings.Time(u => $"ONNX Runtime U-Net ({Hit(u.FromCache)})", () => new OnnxRuntimeUNet(unet, cache, unetWeightsHash));
            else if (UNetDtype == ScalarType.BFloat16) BFloat16Check.EnsureAccurate(BFloat16Check.Engine, model: null);
            if (textAndVaeRuntime == UNetRuntime.OnnxRuntime)
            {
                onnxText = timings.Time(t => $"ONNX Runtime text encoder ({Hit(t.FromCache)})", () => new OnnxRuntimeTextEncoder(textEncoder, cache));
                onnxVae = timings.Time(v => $"ONNX Runtime VAE decoder ({Hit(v.FromCache)})", () => new OnnxRuntimeVae(vae, cache));
            }
        }
        catch
        {
            onnxUNet?.Dispose();
            onnxText?.Dispose();
            throw;
        }
        LoadTimings = timings;
    }

    /// <summary>Measures LibTorch against ONNX Runtime for the U-Net, stores the decision, and drops ONNX Runtime's U-Net if LibTorch won.</summary>
    RuntimeDecision Probe(string decisionPath)
    {
        RuntimeDecision decision = RuntimeProbe.MeasureAndStore(unet, onnxUNet!, decisionPath);
        RuntimeDecision = decision;
        if (decision.Runtime == UNetRuntime.LibTorch)
        {
            onnxUNet!.Dispose();
            onnxUNet = null;
            Runtime = UNetRuntime.LibTorch;
        }
        return decision;
    }

    /// <summary>The engine that runs the text encoder and the VAE (LibTorch, or ONNX Runtime in float32).</summary>
    public UNetRuntime TextEncoderAndVaeRuntime { get; }

    /// <summary>Wall time of the load's stages (reading the weights, each ONNX Runtime session).</summary>
    public StageTimings LoadTimings { get; }

    /// <summary>The model's scheduler config: its noise schedule, and the sampler used when a request names none.</summary>
    public SchedulerConfig SchedulerConfig { get; }

    /// <summary>The engine that runs the U-Net (<see cref="PipelineOptions.Runtime"/>, with Auto resolved).</summary>
    public UNetRuntime Runtime { get; private set; }

    /// <summary>What <see cref="UNetRuntime.Auto"/> measured (<see cref="RuntimeProbe"/>), when it measured or read a decision; else null (a rule decided, or the runtime was given).</summary>
    public RuntimeDecision? RuntimeDecision { get; private set; }

    /// <summary>The name written as <c>Model:</c> into the images' parameters (the folder's name after <see cref="Load"/>); null leaves it out.</summary>
    public string? ModelName { get; init; }

    /// <summary>Image pixels per latent pixel: 2^(VAE levels - 1) (8 for SD 1.x).</summary>
    public int VaeScaleFactor => vae.Config.DownsampleFactor;

    /// <summary>Image sides must be multiples of this: the VAE factor times 2^(U-Net levels - 1).</summary>
    public int SizeMultiple => VaeScaleFactor * unet.SizeMultiple;

    /// <summary>The default image side: the U-Net's sample_size times the VAE factor (else the VAE's sample_size).</summary>
    public int DefaultSize => unet.Config.SampleSize is int s ? s * VaeScaleFactor : vae.Config.SampleSize;

    /// <summary>Test hook: how many times the text encoder ran.</summary>
    internal int TextEncoderCalls { get; private set; }

    /// <summary>The scheduler config's file for messages (<c>scheduler/scheduler_config.json</c> of the folder after <see cref="Load"/>).</summary>
    public string SchedulerSource { get; init; } = "the scheduler config";

    /// <summary>Test hook: called with the sample's shape before each U-Net evaluation.</summary>
    internal Action<long[]>? UNetCalled { get; set; }

    /// <summary>
    /// Loads a diffusers pipeline folder (<c>model_index.json</c>, <c>vae/</c>, <c>text_encoder/</c>, <c>tokenizer/</c>,
    /// <c>unet/</c>, <c>scheduler/</c>) or an SD 1.x single file (<c>.safetensors</c> with the original LDM keys, with
    /// <see cref="PipelineOptions.ConfigDirectory"/> for its tokenizer; see <see cref="SingleFileCheckpoint"/>) strictly;
    /// fp32, fp16 and bf16 weight files load. The pipeline owns the modules.
    /// </summary>
    /// <remarks>Parts that run on ONNX Runtime keep no second float32 copy in LibTorch: the U-Net's and the text encoder's
    /// LibTorch weights are freed after their sessions open, and read again from the same files when a LoRA or a save
    /// needs them (refused if the files changed meanwhile). <see cref="LoadTimings"/> has the time of each stage.</remarks>
    /// <param name="directory">The folder (e.g. <c>weights/emoji-64</c>, or a Stable Diffusion 1.x download), or a single <c>.safetensors</c> file.</param>
    /// <param name="options">The U-Net's compute dtype and engine, and the model name; null for float32 on LibTorch and the folder's name.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message has its path.</exception>
    /// <exception cref="NotSupportedException">A single file of another family (SD 2.x, SDXL, inpainting, VAE-only) or a pickled .ckpt; the message names the key or extension.</exception>
    /// <exception cref="InvalidDataException">The index names a class we cannot load, or a config or weights file does not fit (a missing, unexpected or mis-shaped key); the message names the component.</exception>
    /// <exception cref="ArgumentException">The dtype is not Float32 or BFloat16, the runtime is unknown, OnnxRuntime is asked for
    /// with BFloat16 or for a U-Net over one ONNX file's 2 GiB, or the components do not fit together.</exception>
    /// <exception cref="BFloat16InaccurateException">BFloat16 is asked for but this engine computes it wrongly on this CPU
    /// (<see cref="BFloat16Check"/>: its op probes, or this U-Net's bf16 output more than 5% off float32's); the message has the numbers.</exception>
    /// <exception cref="Microsoft.ML.OnnxRuntime.OnnxRuntimeException">ONNX Runtime cannot build its session (with Runtime OnnxRuntime or Auto).</exception>
    public static StableDiffusionPipeline Load(string directory, PipelineOptions? options = null)
    {
        options ??= new PipelineOptions();
        if (options.Dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"PipelineOptions.Dtype is {options.Dtype}; expected Float32 or BFloat16", nameof(options));
        if (options.Runtime == UNetRuntime.OnnxRuntime && options.Dtype != ScalarType.Float32)
            throw new ArgumentException($"PipelineOptions.Dtype is {options.Dtype} with Runtime OnnxRuntime; ONNX Runtime runs the U-Net in Float32 (use LibTorch for BFloat16)", nameof(options));
        if (!Enum.IsDefined(options.Runtime))
            throw new ArgumentException($"PipelineOptions.Runtime is {options.Runtime}; expected LibTorch, OnnxRuntime or Auto", nameof(options));
        // A diffusers folder, or a single file with LDM key names (SingleFile/).
        bool singleFile = SingleFileCheckpoint.IsSingleFile(directory);
        var timings = new StageTimings();
        PipelineComponents c = timings.Time("read the weights (LibTorch modules)",
            () => singleFile ? SingleFileCheckpoint.Load(directory, options.ConfigDirectory) : PipelineFolder.Load(directory));
        try
        {
            CheckFit(c.Vae, c.TextEncoder, c.Tokenizer, c.UNet, singleFile ? options.ConfigDirectory : Path.GetFullPath(directory));
            c.Vae.eval();
            if (options.Dtype == ScalarType.BFloat16)
                BFloat16Check.EnsureAccurate(BFloat16Check.Engine, ToBFloat16Checked(c.UNet));
            string name = options.ModelName ?? (singleFile ? Path.GetFileNameWithoutExtension(directory)
                : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))));
            if (options.Runtime == UNetRuntime.OnnxRuntime && !OnnxRuntimeUNet.Fits(c.UNet))
                throw new ArgumentException(
                    $"PipelineOptions.Runtime is OnnxRuntime but the U-Net's float32 weights ({OnnxRuntimeUNet.FloatBytes(c.UNet) / (1 << 20)} MiB) exceed one ONNX file's 2 GiB; use LibTorch or Auto", nameof(options));
            UNetRuntime runtime = options.Runtime != UNetRuntime.Auto ? options.Runtime
                : options.Dtype == ScalarType.Float32 && OnnxRuntimeUNet.Fits(c.UNet) ? UNetRuntime.OnnxRuntime : UNetRuntime.LibTorch;
            // The text encoder and the VAE run in float32 whatever the U-Net's dtype, and always fit one ONNX file.
            UNetRuntime textAndVae = options.Runtime == UNetRuntime.LibTorch ? UNetRuntime.LibTorch : UNetRuntime.OnnxRuntime;
            OnnxModelCache? cache = string.IsNullOrEmpty(options.OnnxCacheDirectory) ? null : new OnnxModelCache(options.OnnxCacheDirectory);
            // Auto with a cache folder: the engine measured faster for this machine and model (RuntimeProbe), measured on
            // the first load and read back afterwards; without one, the rule above (ONNX Runtime for float32 where it fits).
            bool probe = options.Runtime == UNetRuntime.Auto && runtime == UNetRuntime.OnnxRuntime && cache is not null;
            string? unetHash = null, decisionPath = null;
            RuntimeDecision? stored = null;
            if (probe)
            {
                unetHash = timings.Time("hash the U-Net's weights (key of the cached graphs and the runtime decision)", () => OnnxModelCache.WeightsHash(c.UNet));
                decisionPath = RuntimeProbe.DecisionPath(cache!.Directory, unetHash);
                stored = RuntimeProbe.Read(decisionPath);
                if (stored is not null) runtime = stored.Runtime;
            }
            var pipeline = new StableDiffusionPipeline(c.Vae, c.TextEncoder, c.Tokenizer, c.UNet, c.Scheduler, ownsModules: true, runtime, textAndVae, cache, timings, unetHash)
                {
                    ModelName = name,
                    RuntimeDecision = stored,
                    RuntimeWasAuto = options.Runtime == UNetRuntime.Auto,
                    SchedulerSource = c.SchedulerSource ?? "the default SD 1.x scheduler config",
                };
            if (stored is not null)
                timings.Add($"runtime: the U-Net on {stored.Runtime} (measured by an earlier run: LibTorch {stored.LibTorchMs:F1} ms, ONNX Runtime {stored.OnnxRuntimeMs:F1} ms)", 0);
            if (probe && stored is null)
                timings.Time(d => $"runtime probe (LibTorch {d.LibTorchMs:F1} ms, ONNX Runtime {d.OnnxRuntimeMs:F1} ms per guided U-Net call: {d.Runtime})",
                    () => pipeline.Probe(decisionPath!));
            // ONNX Runtime holds its own copy of what it runs; LibTorch's is read again only if a LoRA or a save needs it.
            string? config = options.ConfigDirectory;
            timings.Time("release LibTorch's copy of the weights ONNX Runtime runs", () =>
            {
                pipeline.ReleaseTorchWeights(() => singleFile ? SingleFileCheckpoint.Load(directory, config) : PipelineFolder.Load(directory));
                return 0;
            });
            return pipeline;
        }
        catch
        {
            c.Vae.Dispose();
            c.TextEncoder.Dispose();
            c.UNet.Dispose();
            throw;
        }
    }

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
            // 1. Validate the request and resolve its defaults (size, scheduler).
            var (width, height) = Validate(request);
            SchedulerConfig schedulerConfig = SchedulerFor(request);
            SchedulerChecks.StepsFit(schedulerConfig, request.Steps, SchedulerSource);
            int batch = request.Prompts.Count * request.ImagesPerPrompt;
            bool onnx = CheckMemory(width, height, batch, request.GuidanceScale);
            long[] latentShape = [batch, unet.Config.InChannels, height / VaeScaleFactor, width / VaeScaleFactor];
            if (request.Latents is { } given && !given.shape.SequenceEqual(latentShape))
                throw new ArgumentException($"Latents has shape [{string.Join(", ", given.shape)}]; expected [{string.Join(", ", latentShape)}] for {batch} images of {width}x{height}", nameof(request));

            using var inference = new InferenceMode(vae, textEncoder, unet);
            using var scope = NewDisposeScope();
            using var generator = new Generator((ulong)request.Seed);
            using var scheduler = new SchedulerLease(NoiseSchedulers.Create(schedulerConfig, request.Eta));

            // 2. Guidance: with s > 1 each step evaluates [uncond; cond] in one batch.
            bool guided = request.GuidanceScale > 1.0;

            // 3. Encode the prompts (and the negative prompt): [B, T, D], or [2B, T, D] = [uncond; cond].
            var timings = new StageTimings();
            Tensor embeddings = timings.Time("text encoder", () => EncodePrompts(request.Prompts, request.ImagesPerPrompt, guided ? request.NegativePrompt : null));

            // 4. Prepare the timesteps.
            scheduler.Value.SetTimesteps(request.Steps);

            // 5. Prepare the latents: x_T = InitNoiseSigma * N(0, I), one draw of [B, C, h, w] from the one generator.
            Tensor latents = request.Latents is { } l
                ? l.to(ScalarType.Float32, Device).clone()
                : randn(latentShape, ScalarType.Float32, generator: generator).to(Device);
            using var initNoiseSigma = scheduler.Value.InitNoiseSigma.ToScalar();
            latents = latents.mul(initNoiseSigma);

            // 6-7. Denoising loop, then decode with the VAE.
            latents = timings.Time($"denoising ({scheduler.Value.Timesteps.Count} U-Net calls)",
                () => Denoise(scheduler.Value, scheduler.Value.Timesteps, latents, embeddings, request.GuidanceScale, onnx, generator, progress, cancellationToken));
            Tensor images = timings.Time("VAE decode", () => DecodeLatents(latents).MoveToOuterDisposeScope());
            return Result(images, request, width, height, schedulerConfig, extras: []) with { Timings = timings };
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
            // 1. Validate: the image fixes the size; the strength is in [0, 1].
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
            SchedulerConfig schedulerConfig = SchedulerFor(g);
            SchedulerChecks.StepsFit(schedulerConfig, g.Steps, SchedulerSource);
            int batch = g.Prompts.Count * g.ImagesPerPrompt;
            bool onnx = CheckMemory(width, height, batch, g.GuidanceScale);

            using var inference = new InferenceMode(vae, textEncoder, unet);
            using var scope = NewDisposeScope();
            using var generator = new Generator((ulong)g.Seed);
            using var scheduler = new SchedulerLease(NoiseSchedulers.Create(schedulerConfig, g.Eta));
            bool guided = g.GuidanceScale > 1.0;

            // 2. Encode the prompts: [B, T, D] or [2B, T, D] = [uncond; cond].
            Tensor embeddings = EncodePrompts(g.Prompts, g.ImagesPerPrompt, guided ? g.NegativePrompt : null);

            // 3. Timesteps: the last floor(steps * strength) of the schedule.
            scheduler.Value.SetTimesteps(g.Steps);
            IReadOnlyList<double> timesteps = scheduler.Value.TimestepsForStrength(request.Strength);

            // 4. Latents: z_0 = scaling_factor * a posterior sample of the image, [1, C, h, w] -> [B, C, h, w];
            //    noised to the first timestep with one draw of [B, C, h, w] from the same generator.
            Tensor pixels = image.reshape(1, 3, height, width).to(VaeDtype, Device);
            using var posterior = onnxVae?.Encode(pixels) ?? vae.Encode(pixels);
            Tensor latents = posterior.Sample(generator).to(ScalarType.Float32).mul(Scalars.Of(vae.Config.ScalingFactor)).expand(batch, -1, -1, -1).contiguous();
            if (timesteps.Count > 0)
            {
                Tensor noise = randn(latents.shape, ScalarType.Float32, generator: generator).to(Device);
                latents = scheduler.Value.AddNoise(latents, noise, TimestepTensor(scheduler.Value, timesteps[0]));
            }

            // 5-6. Denoise the remaining steps, then decode.
            latents = Denoise(scheduler.Value, timesteps, latents, embeddings, g.GuidanceScale, onnx, generator, progress, cancellationToken);
            Tensor images = DecodeLatents(latents).MoveToOuterDisposeScope();
            var strength = new KeyValuePair<string, string>("Denoising strength", request.Strength.ToString("R", CultureInfo.InvariantCulture));
            return Result(images, g, width, height, schedulerConfig, extras: [strength]);
        }
    }

    /// <summary>
    /// Writes a diffusers <c>StableDiffusionPipeline</c> folder that <see cref="Load"/> reads back: <c>unet/</c>, <c>vae/</c>,
    /// <c>text_encoder/</c> (weights in <paramref name="dtype"/>), <c>tokenizer/</c>, <c>scheduler/scheduler_config.json</c>
    /// (<see cref="SchedulerConfig"/>) and <c>model_index.json</c>, as diffusers' <c>save_pretrained</c> lays it out.
    /// </summary>
    /// <param name="directory">The folder; created when missing, existing files of the same names replaced.</param>
    /// <param name="dtype">Float32 (exact), Float16 or BFloat16.</param>
    public void SavePretrained(string directory, ScalarType dtype = ScalarType.Float32)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        lock (gate)
        {
            EnsureTorchWeights();
            unet.SavePretrained(Path.Combine(directory, "unet"), dtype);
            vae.SavePretrained(Path.Combine(directory, "vae"), dtype);
            textEncoder.SavePretrained(Path.Combine(directory, "text_encoder"), dtype);
            tokenizer.SavePretrained(Path.Combine(directory, "tokenizer"));
            PipelineFolder.WriteSchedulerAndIndex(directory, SchedulerConfig);
        }
    }

    /// <summary>
    /// Writes the U-Net, VAE and text encoder as one SD 1.x single file with the original LDM key names
    /// (<c>model.diffusion_model.*</c>, <c>first_stage_model.*</c>, <c>cond_stage_model.transformer.*</c>), which
    /// <see cref="Load"/> (with a config folder for the tokenizer) and other SD tools read. Fused LoRAs are written in.
    /// </summary>
    /// <param name="path">The <c>.safetensors</c> file, written atomically.</param>
    /// <param name="dtype">Float32 (exact), Float16 or BFloat16.</param>
    /// <exception cref="InvalidDataException">The model's architecture has weights the single-file layout cannot name.</exception>
    public void SaveSingleFile(string path, ScalarType dtype = ScalarType.Float32)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        lock (gate)
        {
            EnsureTorchWeights();
            SingleFileWriter.Write(path, unet, vae, textEncoder, dtype);
        }
    }

    /// <summary>Disposes the modules when <see cref="Load"/> created them; a pipeline built on given modules leaves them alone.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            onnxUNet?.Dispose();
            onnxText?.Dispose();
            onnxVae?.Dispose();
            emptyPromptStates?.Dispose();
            if (!ownsModules) loraFuser?.Restore(); // given modules go back as they came
            loraFuser?.Dispose();
            if (!ownsModules) return;
            vae.Dispose();
            textEncoder.Dispose();
            unet.Dispose();
        }
    }

    /// <summary>
    /// Converts the float32 U-Net to bf16 and measures its output against float32's on one probe: a guided batch of 2,
    /// 16x16 latents (rounded up to the U-Net's size multiple), timesteps 999 and 500, random text states. Costs about two
    /// U-Net steps; catches a bf16 engine that is wrong on this CPU at the model's own shapes (see <see cref="BFloat16Check"/>).
    /// </summary>
    static BFloat16Deviation ToBFloat16Checked(UNet2DConditionModel unet)
    {
        using var mode = new InferenceMode(unet);
        using var scope = NewDisposeScope();
        using var generator = new Generator(0);
        int multiple = unet.SizeMultiple, width = unet.Config.CrossAttentionDim.PerBlock(unet.Config.BlockOutChannels.Length)[0];
        long side = (16 + multiple - 1) / multiple * multiple;
        Tensor sample = randn([2, unet.Config.InChannels, side, side], generator: generator);
        Tensor context = randn([2, 77, width], generator: generator);
        Tensor timesteps = tensor(new long[] { 999, 500 });
        Tensor fp32 = unet.forward(sample, timesteps, context);
        unet.to(ScalarType.BFloat16);
        Tensor bf16 = unet.forward(sample.to(ScalarType.BFloat16), timesteps, context.to(ScalarType.BFloat16));
        return new BFloat16Deviation($"the U-Net's output in bf16 vs float32 on [2, {unet.Config.InChannels}, {side}, {side}] latents",
            BFloat16Check.Error(fp32, bf16), BFloat16Check.ModelTolerance);
    }

    /// <summary>The denoising loop: per step scale the input, one U-Net call, guidance, one scheduler step.</summary>
    Tensor Denoise(INoiseScheduler scheduler, IReadOnlyList<double> timesteps, Tensor latents, Tensor embeddings, double guidanceScale, bool onnx,
        Generator generator, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        bool guided = guidanceScale > 1.0;
        using var s = guidanceScale.ToScalar();   // the guidance scale s, held for the whole loop
        ScalarType dtype = UNetDtype;
        // The text's keys and values in every cross-attention, and the fused q/k/v weights, are the same at every step:
        // computed once here (AttentionCache, OnnxRuntimeUNet.TextKeyValues).
        // onnx false with an ONNX Runtime U-Net: a call too large for its attention (CheckMemory) runs on LibTorch,
        // whose weights are read back first if they were released.
        bool runOnnx = onnx && onnxUNet is not null;
        if (!runOnnx) EnsureTorchWeights();
        using var attention = runOnnx ? null : unet.PrepareAttention(embeddings);
        using var text = runOnnx ? onnxUNet!.PrepareText(embeddings) : null;
        for (int i = 0; i < timesteps.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double t = timesteps[i];
            using (var step = NewDisposeScope())
            {
                // latents: [B, C, h, w] -> model input [2B, C, h, w] with guidance (uncond first), else [B, C, h, w]
                Tensor input = guided ? cat([latents, latents]) : latents;
                input = scheduler.ScaleModelInput(input, t);
                UNetCalled?.Invoke(input.shape);
                Tensor noise = runOnnx
                    ? onnxUNet!.Forward(input, TimestepTensor(scheduler, t), text!)
                    : unet.Forward(input.to(dtype), TimestepTensor(scheduler, t), embeddings, attention).to(ScalarType.Float32);
                if (guided)
                {
                    // noise: [2B, C, h, w] -> uncond, cond [B, C, h, w]; eps = uncond + s (cond - uncond)
                    Tensor[] parts = noise.chunk(2);
                    noise = parts[0].add(s * (parts[1] - parts[0]), Scalars.One);
                }
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
            return (onnxText?.Forward(ids) ?? textEncoder.forward(ids.to(Device))).to(UNetDtype, Device);
    }

    // images = vae.decode(z / scaling_factor), clamped to [-1, 1]: [B, C, h, w] -> [B, 3, H, W] float32.
    Tensor DecodeLatents(Tensor latents)
    {
        Tensor z = latents.div(Scalars.Of(vae.Config.ScalingFactor));
        return (onnxVae?.Decode(z) ?? vae.Decode(z.to(VaeDtype))).to(ScalarType.Float32, Device).clamp(Scalars.Of(-1), Scalars.Of(1));
    }

    GenerationResult Result(Tensor images, GenerationRequest request, int width, int height, SchedulerConfig scheduler, KeyValuePair<string, string>[] extras)
    {
        int batch = request.Prompts.Count * request.ImagesPerPrompt;
        string sampler = SamplerNames.For(scheduler);
        var parameters = new GenerationParameters[batch];
        for (int i = 0; i < batch; i++)
        {
            var keys = new List<KeyValuePair<string, string>>();
            if (request.Eta != 0 && scheduler.ClassName == SchedulerConfig.DdimClassName)
                keys.Add(new("Eta DDIM", request.Eta.ToString("R", CultureInfo.InvariantCulture)));
            keys.AddRange(extras);
            keys.AddRange(LoraHashExtras());
            if (batch > 1)
            {
                keys.Add(new("Batch size", batch.ToString(CultureInfo.InvariantCulture)));
                keys.Add(new("Batch pos", i.ToString(CultureInfo.InvariantCulture)));
            }
            parameters[i] = new GenerationParameters(request.Prompts[i / request.ImagesPerPrompt] + LoraPromptSuffix(), request.NegativePrompt, request.Steps,
                sampler, request.GuidanceScale, request.Seed, width, height, ModelName, keys);
        }
        return new GenerationResult(images, Enumerable.Repeat(request.Seed, batch).ToArray(), parameters);
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
                $"{name} {value} is not a positive multiple of {m} (VAE factor {VaeScaleFactor} x 2^{unet.Config.BlockOutChannels.Length - 1} for the U-Net's levels); " +
                $"expected e.g. {suggestion}", name);
        }
    }

    /// <summary>Whether <see cref="PipelineOptions.Runtime"/> was Auto: a call too large for ONNX Runtime's attention then runs on LibTorch.</summary>
    internal bool RuntimeWasAuto { get; init; }

    // Refuses a request whose activations cannot fit in memory before any tensor of its size exists (ResourceEstimate);
    // returns whether this call runs the U-Net on ONNX Runtime. Its exported attention holds [B, heads, N, N] (19 GB at
    // 512x512 on the shipped model), LibTorch's fused kernel does not (1 GB): with Runtime Auto a call that only LibTorch
    // can hold runs there, at LibTorch's speed and with its float32 rounding.
    bool CheckMemory(int width, int height, int images, double guidanceScale)
    {
        long free = ResourceEstimate.AvailableMemoryBytes();
        double Bytes(bool onnx) => ResourceEstimate.GenerationBytes(unet.Config, vae.Config, width, height, images * (guidanceScale > 1.0 ? 2 : 1), images, onnx);
        string what = $"generating {images} image{(images == 1 ? "" : "s")} of {width}x{height}";
        if (onnxUNet is not null)
        {
            double onnx = Bytes(onnx: true);
            if (onnx <= free) return true;
            if (!RuntimeWasAuto)
                ResourceEstimate.CheckFits(onnx, $"{what} on ONNX Runtime, whose attention holds [B, heads, N, N] (LibTorch's does not)", free);
        }
        ResourceEstimate.CheckFits(Bytes(onnx: false), what, free);
        return false;
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

    Device Device => unet.parameters().First().device;
    ScalarType UNetDtype => unet.parameters().First().dtype;
    ScalarType VaeDtype => vae.parameters().First().dtype;

    // root: the pipeline folder, when loaded from one: the messages then name the config files.
    static void CheckFit(AutoencoderKL vae, ClipTextModel textEncoder, ClipTokenizer tokenizer, UNet2DConditionModel unet, string? root = null)
    {
        string In(string component, string file) => root is null ? "" : $" ({Path.Combine(root, component, file)})";
        int latent = vae.Config.LatentChannels, width = unet.Config.CrossAttentionDim.PerBlock(unet.Config.BlockOutChannels.Length)[0];
        if (unet.Config.InChannels != latent || unet.Config.OutChannels != latent)
            throw new ArgumentException($"the U-Net{In("unet", "config.json")} takes {unet.Config.InChannels} and gives {unet.Config.OutChannels} channels but the VAE's latents{In("vae", "config.json")} have {latent}; expected equal", nameof(unet));
        if (textEncoder.Config.HiddenSize != width)
            throw new ArgumentException($"the text encoder's hidden_size{In("text_encoder", "config.json")} is {textEncoder.Config.HiddenSize} but the U-Net's cross_attention_dim{In("unet", "config.json")} is {width}; expected equal", nameof(textEncoder));
        if (tokenizer.ModelMaxLength > textEncoder.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"the tokenizer's model_max_length{In("tokenizer", "tokenizer_config.json")} is {tokenizer.ModelMaxLength} but the text encoder{In("text_encoder", "config.json")} has {textEncoder.Config.MaxPositionEmbeddings} positions; expected at most that", nameof(tokenizer));
        if (tokenizer.VocabSize > textEncoder.Config.VocabSize)
            throw new ArgumentException($"the tokenizer{In("tokenizer", "vocab.json")} has {tokenizer.VocabSize} tokens but the text encoder's vocab_size{In("text_encoder", "config.json")} is {textEncoder.Config.VocabSize}; expected at most that", nameof(tokenizer));
    }

    /// <summary>Disposes a scheduler that holds tensors (DPM-Solver's and PNDM's history) when the call ends.</summary>
    readonly struct SchedulerLease(INoiseScheduler value) : IDisposable
    {
        public INoiseScheduler Value { get; } = value;
        public void Dispose() => (Value as IDisposable)?.Dispose();
    }
}
