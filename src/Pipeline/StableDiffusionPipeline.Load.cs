using Latent.Core.Engine;
using Latent.Core.Onnx;
using Latent.Pipeline.Ort;
using Latent.Pipeline.SingleFile;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline;

// Loading: what to read, which engine runs each part, and which LibTorch modules need to exist at all.
public sealed partial class StableDiffusionPipeline
{
    /// <summary>
    /// Loads a diffusers pipeline folder (<c>model_index.json</c>, <c>vae/</c>, <c>text_encoder/</c>, <c>tokenizer/</c>,
    /// <c>unet/</c>, <c>scheduler/</c>) or an SD 1.x single file (<c>.safetensors</c> with the original LDM keys, with
    /// <see cref="PipelineOptions.ConfigDirectory"/> for its tokenizer; see <see cref="SingleFileCheckpoint"/>) strictly;
    /// fp32, fp16 and bf16 weight files load. The pipeline owns the modules.
    /// </summary>
    /// <remarks>Parts that run on ONNX Runtime keep no second float32 copy in LibTorch: from a folder, with a warm
    /// <see cref="PipelineOptions.OnnxCacheDirectory"/>, their LibTorch modules are not even built (the sessions and the
    /// weights' hashes are read from the cache; the files are hashed to find them); otherwise they are built to export and
    /// freed once the sessions open. Either way they are built from the same files when a LoRA, a save, or a call too
    /// large for ONNX Runtime's attention needs them (refused if the files changed meanwhile). <see cref="LoadTimings"/>
    /// has the time of each stage.</remarks>
    /// <param name="directory">The folder (e.g. <c>weights/emoji-64</c>, or a Stable Diffusion 1.x download), or a single <c>.safetensors</c> file.</param>
    /// <param name="options">The U-Net's compute dtype and engine, and the model name; null for float32 on LibTorch and the folder's name.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; the message has its path.</exception>
    /// <exception cref="NotSupportedException">A single file of another family (SD 2.x, SDXL, inpainting, VAE-only) or a pickled .ckpt; the message names the key or extension.</exception>
    /// <exception cref="InvalidDataException">The index names a class we cannot load, or a config or weights file does not fit (a missing, unexpected or mis-shaped key); the message names the component.</exception>
    /// <exception cref="ArgumentException">The dtype is not Float32 or BFloat16, the runtime is unknown, OnnxRuntime is asked for
    /// with BFloat16 or for a U-Net over one ONNX file's 2 GiB, int8 linear layers are asked for with LibTorch or BFloat16,
    /// or the components do not fit together.</exception>
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
        if (!Enum.IsDefined(options.UNetLinearWeights))
            throw new ArgumentException($"PipelineOptions.UNetLinearWeights is {options.UNetLinearWeights}; expected Float32 or DynamicInt8", nameof(options));
        bool int8 = options.UNetLinearWeights == OnnxLinearWeights.DynamicInt8;
        if (int8 && options.Runtime == UNetRuntime.LibTorch)
            throw new ArgumentException("PipelineOptions.UNetLinearWeights is DynamicInt8 with Runtime LibTorch; int8 linear layers run only on ONNX Runtime (use OnnxRuntime or Auto)", nameof(options));
        if (int8 && options.Dtype != ScalarType.Float32)
            throw new ArgumentException($"PipelineOptions.UNetLinearWeights is DynamicInt8 with Dtype {options.Dtype}; the int8 U-Net runs on ONNX Runtime with float32 activations (use Float32)", nameof(options));
        // 1. A diffusers folder (configs now, each module when first needed), or a single file with LDM key names (read whole).
        bool singleFile = SingleFileCheckpoint.IsSingleFile(directory);
        string? configDirectory = options.ConfigDirectory;
        var timings = new StageTimings();
        PipelineSource source = singleFile
            ? timings.Time("read the weights (LibTorch modules)", () => PipelineSource.From(SingleFileCheckpoint.Load(directory, configDirectory), () => SingleFileCheckpoint.Load(directory, configDirectory)))
            : timings.Time("read the configs, the tokenizer and the scheduler", () => PipelineFolder.Open(directory));
        static TorchPart<T> Part<T>(PartSource<T> s) where T : nn.Module => s.Built is { } built ? new(built) : new(s.Load);
        TorchPart<AutoencoderKL> vae = Part(source.Vae);
        TorchPart<ClipTextModel> textEncoder = Part(source.TextEncoder);
        TorchPart<UNet2DConditionModel> unet = Part(source.UNet);
        try
        {
            CheckFit(source.VaeConfig, source.TextConfig, source.Tokenizer, source.UNetConfig, singleFile ? configDirectory : Path.GetFullPath(directory));
            if (options.Dtype == ScalarType.BFloat16)
                BFloat16Check.EnsureAccurate(BFloat16Check.Engine, ToBFloat16Checked(unet.Value));
            string name = options.ModelName ?? (singleFile ? Path.GetFileNameWithoutExtension(directory)
                : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))));

            // 2. The engines: the U-Net on ONNX Runtime where it fits one ONNX file (its size read from the weights file's header).
            bool fits = OnnxRuntimeUNet.Fits(source.UNetFloatBytes);
            if (options.Runtime == UNetRuntime.OnnxRuntime && !fits)
                throw new ArgumentException(
                    $"PipelineOptions.Runtime is OnnxRuntime but the U-Net's float32 weights ({source.UNetFloatBytes / (1 << 20)} MiB) exceed one ONNX file's 2 GiB; use LibTorch or Auto", nameof(options));
            if (int8 && !fits)
                throw new ArgumentException(
                    $"PipelineOptions.UNetLinearWeights is DynamicInt8 but the U-Net's float32 weights ({source.UNetFloatBytes / (1 << 20)} MiB) exceed one ONNX file's 2 GiB; use Float32", nameof(options));
            // int8 linear layers were asked for by name: Auto runs them (on ONNX Runtime) rather than measure LibTorch's float32.
            UNetRuntime runtime = options.Runtime != UNetRuntime.Auto ? options.Runtime
                : int8 || (options.Dtype == ScalarType.Float32 && fits) ? UNetRuntime.OnnxRuntime : UNetRuntime.LibTorch;
            // The text encoder and the VAE run in float32 whatever the U-Net's dtype, and always fit one ONNX file.
            UNetRuntime textAndVae = options.Runtime == UNetRuntime.LibTorch ? UNetRuntime.LibTorch : UNetRuntime.OnnxRuntime;
            OnnxModelCache? cache = string.IsNullOrEmpty(options.OnnxCacheDirectory) ? null : new OnnxModelCache(options.OnnxCacheDirectory);

            // 3. Name the weights of each part ONNX Runtime runs (the cached graphs' and the runtime decision's key).
            var none = new WeightsId(null, null);
            WeightsIds ids = runtime == UNetRuntime.LibTorch && textAndVae == UNetRuntime.LibTorch ? new WeightsIds(none, none, none)
                : timings.Time("hash the weights ONNX Runtime runs (key of the cached graphs and the runtime decision; a part whose files are new is read)", () => new WeightsIds(
                    runtime == UNetRuntime.OnnxRuntime ? Identify(unet, source.UNet, cache) : none,
                    textAndVae == UNetRuntime.OnnxRuntime ? Identify(textEncoder, source.TextEncoder, cache) : none,
                    textAndVae == UNetRuntime.OnnxRuntime ? Identify(vae, source.Vae, cache) : none));

            // 4. Auto with a cache folder: the engine measured faster for this machine and model (RuntimeProbe), measured on
            //    the first load and read back afterwards; without one, the rule above (ONNX Runtime for float32 where it fits).
            bool probe = options.Runtime == UNetRuntime.Auto && runtime == UNetRuntime.OnnxRuntime && cache is not null && !int8;
            string? decisionPath = null;
            RuntimeDecision? stored = null;
            if (probe)
            {
                decisionPath = RuntimeProbe.DecisionPath(cache!.Directory, ids.UNet.Weights!);
                stored = RuntimeProbe.Read(decisionPath);
                if (stored is not null) runtime = stored.Runtime;
            }

            // 5. The parts LibTorch runs are read now (their errors surface here, as before), and without a cache the parts
            //    ONNX Runtime runs too (they are exported). With a cache, a part is read only if its files are new to it (step 3).
            bool torchUNet = (runtime == UNetRuntime.LibTorch || cache is null) && !unet.IsBuilt;
            bool torchText = (textAndVae == UNetRuntime.LibTorch || cache is null) && !(vae.IsBuilt && textEncoder.IsBuilt);
            if (torchUNet || torchText)
                timings.Time("read the weights (LibTorch modules)", () =>
                {
                    if (torchText) { _ = vae.Value; _ = textEncoder.Value; }
                    return torchUNet ? unet.Value : null;
                });

            // 6. ONNX Runtime's sessions (the pipeline's constructor), the probe, and LibTorch's copies of what ONNX Runtime runs freed.
            var pipeline = new StableDiffusionPipeline(vae, textEncoder, source.Tokenizer, unet, (source.VaeConfig, source.TextConfig, source.UNetConfig),
                source.Scheduler, ownsModules: true, runtime, textAndVae, cache, timings, ids, options.UNetLinearWeights)
                {
                    ModelName = name,
                    RuntimeDecision = stored,
                    RuntimeWasAuto = options.Runtime == UNetRuntime.Auto,
                    SchedulerSource = source.SchedulerSource ?? "the default SD 1.x scheduler config",
                };
            if (stored is not null)
                timings.Add($"runtime: the U-Net on {stored.Runtime} (measured by an earlier run: LibTorch {stored.LibTorchMs:F1} ms, ONNX Runtime {stored.OnnxRuntimeMs:F1} ms)", 0);
            if (probe && stored is null)
                timings.Time(d => $"runtime probe (LibTorch {d.LibTorchMs:F1} ms, ONNX Runtime {d.OnnxRuntimeMs:F1} ms per guided U-Net call: {d.Runtime})",
                    () => pipeline.Probe(decisionPath!));
            timings.Time("release LibTorch's copy of the weights ONNX Runtime runs", () =>
            {
                pipeline.ReleaseTorchParts(source, ids);
                return 0;
            });
            return pipeline;
        }
        catch
        {
            vae.Dispose();
            textEncoder.Dispose();
            unet.Dispose();
            throw;
        }
    }
}
