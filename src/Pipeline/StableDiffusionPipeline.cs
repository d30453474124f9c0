using Latent.Core.Engine;
using Latent.Core.Onnx;
using Latent.Pipeline.Denoising;
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
    // LibTorch's modules. Where ONNX Runtime runs a part, its module is built only when something needs it (TorchPart).
    readonly TorchPart<AutoencoderKL> vae;
    readonly TorchPart<ClipTextModel> textEncoder;
    readonly TorchPart<UNet2DConditionModel> unet;
    readonly VaeConfig vaeConfig;
    readonly UNetConfig unetConfig;
    readonly ClipTokenizer tokenizer;
    OnnxRuntimeUNet? onnxUNet; // rebuilt when LoRAs change the U-Net's weights
    OnnxRuntimeTextEncoder? onnxText; // likewise for the text encoder
    OnnxRuntimeVae? onnxVae;
    IDenoiser denoiser; // the U-Net's engine, chosen at load: ONNX Runtime's sessions or LibTorch
    readonly TorchDenoiser torchDenoiser; // LibTorch: the engine, or the fallback for a call ONNX Runtime cannot hold
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
        : this(Given(vae, nameof(vae)), Given(textEncoder, nameof(textEncoder)), tokenizer, Given(unet, nameof(unet)), (vae.Config, textEncoder.Config, unet.Config),
            schedulerConfig, ownsModules: false, UNetRuntime.LibTorch, UNetRuntime.LibTorch, null, null, null, OnnxLinearWeights.Float32) { }

    static TorchPart<T> Given<T>(T module, string name) where T : nn.Module
    {
        ArgumentNullException.ThrowIfNull(module, name);
        return new TorchPart<T>(module);
    }

    StableDiffusionPipeline(TorchPart<AutoencoderKL> vae, TorchPart<ClipTextModel> textEncoder, ClipTokenizer tokenizer, TorchPart<UNet2DConditionModel> unet,
        (VaeConfig Vae, ClipTextConfig Text, UNetConfig UNet) configs, SchedulerConfig schedulerConfig, bool ownsModules,
        UNetRuntime runtime, UNetRuntime textAndVaeRuntime, OnnxModelCache? cache, StageTimings? timings, WeightsIds? ids,
        OnnxLinearWeights unetLinearWeights)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(schedulerConfig);
        CheckFit(configs.Vae, configs.Text, tokenizer, configs.UNet);
        TorchEngine.DisableNnpack(); // for apps that did not call TorchEngine.Initialize: no NNPACK warnings on stderr
        (this.vae, this.textEncoder, this.tokenizer, this.unet, SchedulerConfig, this.ownsModules) =
            (vae, textEncoder, tokenizer, unet, schedulerConfig, ownsModules);
        (vaeConfig, unetConfig) = (configs.Vae, configs.UNet);
        (Runtime, TextEncoderAndVaeRuntime, onnxCache, UNetLinearWeights) = (runtime, textAndVaeRuntime, cache, unetLinearWeights);
        timings ??= new StageTimings();
        static string Hit(bool hit) => hit ? "optimised model from the cache" : "export + graph optimisation";
        try
        {
            if (runtime == UNetRuntime.OnnxRuntime)
                onnxUNet = timings.Time(u => $"ONNX Runtime U-Net ({Hit(u.FromCache)})", () => new OnnxRuntimeUNet(configs.UNet, () => unet.Value, cache, ids?.UNet.Weights, unetLinearWeights));
            else if (UNetDtype == ScalarType.BFloat16) BFloat16Check.EnsureAccurate(BFloat16Check.Engine, model: null);
            if (textAndVaeRuntime == UNetRuntime.OnnxRuntime)
            {
                onnxText = timings.Time(t => $"ONNX Runtime text encoder ({Hit(t.FromCache)})",
                    () => new OnnxRuntimeTextEncoder(configs.Text, () => textEncoder.Value, cache, ids?.TextEncoder.Weights));
                onnxVae = timings.Time(v => $"ONNX Runtime VAE decoder ({Hit(v.FromCache)})", () => new OnnxRuntimeVae(configs.Vae, () => vae.Value, cache, ids?.Vae.Weights));
            }
        }
        catch
        {
            onnxUNet?.Dispose();
            onnxText?.Dispose();
            throw;
        }
        torchDenoiser = new TorchDenoiser(() => this.unet.Value);
        denoiser = onnxUNet is null ? torchDenoiser : new OrtDenoiser(onnxUNet);
        LoadTimings = timings;
    }

    /// <summary>Measures LibTorch against ONNX Runtime for the U-Net, stores the decision, and drops ONNX Runtime's U-Net if LibTorch won.</summary>
    RuntimeDecision Probe(string decisionPath)
    {
        RuntimeDecision decision = RuntimeProbe.MeasureAndStore(unet.Value, onnxUNet!, decisionPath);
        RuntimeDecision = decision;
        if (decision.Runtime == UNetRuntime.LibTorch)
        {
            onnxUNet!.Dispose();
            onnxUNet = null;
            denoiser = torchDenoiser;
            Runtime = UNetRuntime.LibTorch;
        }
        return decision;
    }

    /// <summary>How ONNX Runtime's U-Net stores its linear layers (<see cref="PipelineOptions.UNetLinearWeights"/>); Float32 when LibTorch runs it.</summary>
    public OnnxLinearWeights UNetLinearWeights { get; }

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
    public int VaeScaleFactor => vaeConfig.DownsampleFactor;

    /// <summary>Image sides must be multiples of this: the VAE factor times 2^(U-Net levels - 1).</summary>
    public int SizeMultiple => VaeScaleFactor * (1 << (unetConfig.BlockOutChannels.Length - 1));

    /// <summary>The default image side: the U-Net's sample_size times the VAE factor (else the VAE's sample_size).</summary>
    public int DefaultSize => unetConfig.SampleSize is int s ? s * VaeScaleFactor : vaeConfig.SampleSize;

    /// <summary>Test hook: how many times the text encoder ran.</summary>
    internal int TextEncoderCalls { get; private set; }

    /// <summary>The scheduler config's file for messages (<c>scheduler/scheduler_config.json</c> of the folder after <see cref="Load"/>).</summary>
    public string SchedulerSource { get; init; } = "the scheduler config";

    /// <summary>Test hook: called with the sample's shape before each U-Net evaluation.</summary>
    internal Action<long[]>? UNetCalled { get; set; }

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
            unet.Value.SavePretrained(Path.Combine(directory, "unet"), dtype);
            vae.Value.SavePretrained(Path.Combine(directory, "vae"), dtype);
            textEncoder.Value.SavePretrained(Path.Combine(directory, "text_encoder"), dtype);
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
            SingleFileWriter.Write(path, unet.Value, vae.Value, textEncoder.Value, dtype);
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

    AutoencoderKL VaeModule => vae.Value;
    ClipTextModel TextEncoderModule => textEncoder.Value;
    nn.Module[] BuiltModules() =>
        [.. new nn.Module?[] { vae.IsBuilt ? vae.Value : null, textEncoder.IsBuilt ? textEncoder.Value : null, unet.IsBuilt ? unet.Value : null }.OfType<nn.Module>()];
    // A part that is not built runs on ONNX Runtime, in float32 on the CPU (and is built float32 if LibTorch needs it).
    Device Device => unet.IsBuilt ? unet.Value.parameters().First().device : CPU;
    ScalarType UNetDtype => unet.IsBuilt ? unet.Value.parameters().First().dtype : ScalarType.Float32;
    ScalarType VaeDtype => vae.IsBuilt ? vae.Value.parameters().First().dtype : ScalarType.Float32;

    // root: the pipeline folder, when loaded from one: the messages then name the config files.
    static void CheckFit(VaeConfig vae, ClipTextConfig textEncoder, ClipTokenizer tokenizer, UNetConfig unet, string? root = null)
    {
        string In(string component, string file) => root is null ? "" : $" ({Path.Combine(root, component, file)})";
        int latent = vae.LatentChannels, width = unet.CrossAttentionDim.PerBlock(unet.BlockOutChannels.Length)[0];
        // out_channels 2C: a learned variance (issue 25, GuidedOutput)
        if (unet.InChannels != latent || (unet.OutChannels != latent && unet.OutChannels != 2 * latent))
            throw new ArgumentException($"the U-Net{In("unet", "config.json")} takes {unet.InChannels} and gives {unet.OutChannels} channels but the VAE's latents{In("vae", "config.json")} have {latent}; expected equal (or {2 * latent} out: a learned variance)", nameof(unet));
        if (textEncoder.HiddenSize != width)
            throw new ArgumentException($"the text encoder's hidden_size{In("text_encoder", "config.json")} is {textEncoder.HiddenSize} but the U-Net's cross_attention_dim{In("unet", "config.json")} is {width}; expected equal", nameof(textEncoder));
        if (tokenizer.ModelMaxLength > textEncoder.MaxPositionEmbeddings)
            throw new ArgumentException($"the tokenizer's model_max_length{In("tokenizer", "tokenizer_config.json")} is {tokenizer.ModelMaxLength} but the text encoder{In("text_encoder", "config.json")} has {textEncoder.MaxPositionEmbeddings} positions; expected at most that", nameof(tokenizer));
        if (tokenizer.VocabSize > textEncoder.VocabSize)
            throw new ArgumentException($"the tokenizer{In("tokenizer", "vocab.json")} has {tokenizer.VocabSize} tokens but the text encoder's vocab_size{In("text_encoder", "config.json")} is {textEncoder.VocabSize}; expected at most that", nameof(tokenizer));
    }

    /// <summary>Disposes a scheduler that holds tensors (DPM-Solver's and PNDM's history) when the call ends.</summary>
    readonly struct SchedulerLease(INoiseScheduler value) : IDisposable
    {
        public INoiseScheduler Value { get; } = value;
        public void Dispose() => (Value as IDisposable)?.Dispose();
    }
}
