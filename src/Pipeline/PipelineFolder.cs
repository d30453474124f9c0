using Latent.Core.Config;
using Latent.Core.IO;
using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;

namespace Latent.Pipeline;

/// <summary>The components read from a diffusers pipeline folder; the caller owns the modules.</summary>
internal sealed record PipelineComponents(
    AutoencoderKL Vae, ClipTextModel TextEncoder, ClipTokenizer Tokenizer, UNet2DConditionModel UNet, SchedulerConfig Scheduler)
{
    /// <summary>The scheduler config file read, for messages; null when built-in defaults were used.</summary>
    public string? SchedulerSource { get; init; }
}

/// <summary>
/// Reads a diffusers <c>StableDiffusionPipeline</c> folder strictly: <c>model_index.json</c>, then <c>vae/</c>,
/// <c>text_encoder/</c>, <c>tokenizer/</c>, <c>unet/</c> and <c>scheduler/</c>, each with its own strict loader.
/// </summary>
/// <remarks>
/// Components the index lists as <c>[null, null]</c> or that we do not use (<c>safety_checker</c>,
/// <c>feature_extractor</c>, also with real classes) are ignored. A component we need that is missing or of another
/// class, a missing file, a config that does not fit, or a weight that is missing, unexpected or mis-shaped fails the
/// whole load with one message that names the component folder; the modules loaded before are disposed.
/// </remarks>
internal static class PipelineFolder
{
    /// <summary>The pipeline's index file.</summary>
    public const string ModelIndexFileName = "model_index.json";

    /// <summary>The pipeline class the index must name (when it names one).</summary>
    public const string PipelineClassName = "StableDiffusionPipeline";

    // The components we need and the classes that load them (the tokenizer's files are the same for the fast class).
    static readonly (string Name, string[] Classes)[] Needed =
    [
        ("vae", ["AutoencoderKL"]),
        ("text_encoder", ["CLIPTextModel"]),
        ("tokenizer", ["CLIPTokenizer", "CLIPTokenizerFast"]),
        ("unet", ["UNet2DConditionModel"]),
        ("scheduler", []), // any *Scheduler: unsupported ones can still be converted with SchedulerKind
    ];

    /// <summary>Loads every component of <paramref name="directory"/> in float32.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing (the message has its full path).</exception>
    /// <exception cref="InvalidDataException">The index, a config or a weights file does not fit (the inner exception has the details).</exception>
    public static PipelineComponents Load(string directory)
    {
        PipelineSource source = Open(directory);
        AutoencoderKL? vae = null;
        ClipTextModel? textEncoder = null;
        try
        {
            vae = source.Vae.Load();
            textEncoder = source.TextEncoder.Load();
            UNet2DConditionModel unet = source.UNet.Load();
            return new PipelineComponents(vae, textEncoder, source.Tokenizer, unet, source.Scheduler) { SchedulerSource = source.SchedulerSource };
        }
        catch
        {
            vae?.Dispose();
            textEncoder?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads <paramref name="directory"/>'s index, configs, tokenizer and scheduler, and checks the configs against their
    /// weights files' headers and the memory, without building a module: each module is built from its own folder,
    /// strictly, when <see cref="PartSource{T}.Load"/> is called (a part that ONNX Runtime runs from its cache never is).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing (the message has its full path).</exception>
    /// <exception cref="InvalidDataException">The index or a config does not fit (the inner exception has the details).</exception>
    public static PipelineSource Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"pipeline folder not found: '{root}'; expected a diffusers folder with {ModelIndexFileName}");

        // 1. The index names the components and their classes.
        ModelIndex index = Wrap("model_index.json", root, () => ConfigFile.Read<ModelIndex>(Path.Combine(root, ModelIndexFileName), PipelineClassName).Config);
        foreach (var (name, classes) in Needed)
        {
            PipelineComponent? c = index.Find(name);
            if (c?.ClassName is null)
                throw new InvalidDataException($"{Path.Combine(root, ModelIndexFileName)}: the pipeline has no \"{name}\" component; expected [\"library\", \"class\"] for it");
            bool ok = classes.Length == 0 ? c.ClassName.EndsWith("Scheduler", StringComparison.Ordinal) : classes.Contains(c.ClassName);
            if (!ok)
                throw new InvalidDataException(
                    $"{Path.Combine(root, ModelIndexFileName)}: component \"{name}\" is a {c.ClassName}, which is not supported; expected " +
                    (classes.Length == 0 ? "a scheduler class (e.g. DDIMScheduler)" : string.Join(" or ", classes)));
        }

        // 2. Before building anything: the configs must describe models their weights files can fill and memory can hold.
        var (vaeConfig, textConfig, unetConfig) = CheckSizes(root);

        // 3. The tokenizer and the scheduler now; each module from its folder, strictly, when first needed.
        ClipTokenizer tokenizer = Wrap("tokenizer", root, () => ClipTokenizer.FromPretrained(Path.Combine(root, "tokenizer")));
        SchedulerConfig scheduler = Wrap("scheduler", root, () => NoiseSchedulers.Load(Path.Combine(root, "scheduler", "scheduler_config.json")).Config);
        PartSource<T> Part<T>(string component, string weightsFile, Func<string, T> fromPretrained) where T : TorchSharp.torch.nn.Module =>
            new(() =>
                {
                    T module = Wrap(component, root, () => fromPretrained(Path.Combine(root, component)));
                    module.eval();
                    return module;
                },
                [Path.Combine(root, component, PretrainedFolder.ConfigFileName), Path.Combine(root, component, weightsFile)], Built: null);
        string unetWeights = Path.Combine(root, "unet", UNet2DConditionModel.WeightsFileName);
        long unetFloatBytes = Wrap("unet", root, () =>
        {
            using var file = SafeTensors.Open(unetWeights);   // the header only
            return file.Tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)) * sizeof(float);
        });
        return new PipelineSource(vaeConfig, textConfig, unetConfig, tokenizer, scheduler,
            Part("vae", AutoencoderKL.WeightsFileName, AutoencoderKL.FromPretrained),
            Part("text_encoder", ClipTextModel.WeightsFileName, ClipTextModel.FromPretrained),
            Part("unet", UNet2DConditionModel.WeightsFileName, UNet2DConditionModel.FromPretrained),
            unetFloatBytes) { SchedulerSource = Path.Combine(root, "scheduler", "scheduler_config.json") };
    }

    /// <summary>Writes <c>scheduler/scheduler_config.json</c> and a <c>model_index.json</c> naming our component classes
    /// (the scheduler's own class; no safety checker or feature extractor).</summary>
    public static void WriteSchedulerAndIndex(string directory, SchedulerConfig scheduler)
    {
        string schedulerDir = Path.Combine(directory, "scheduler");
        Directory.CreateDirectory(schedulerDir);
        ConfigFile.Write(Path.Combine(schedulerDir, "scheduler_config.json"), scheduler);
        ConfigFile.Write(Path.Combine(directory, ModelIndexFileName), new ModelIndex
        {
            ClassName = PipelineClassName,
            DiffusersVersion = AutoencoderKL.DiffusersVersion,
            RequiresSafetyChecker = false,
            Components =
            [
                new PipelineComponent("feature_extractor", null, null),
                new PipelineComponent("safety_checker", null, null),
                new PipelineComponent("scheduler", "diffusers", scheduler.ClassName),
                new PipelineComponent("text_encoder", "transformers", ClipTextConfig.ClassName),
                new PipelineComponent("tokenizer", "transformers", "CLIPTokenizer"),
                new PipelineComponent("unet", "diffusers", UNetConfig.ClassNameValue),
                new PipelineComponent("vae", "diffusers", VaeConfig.ClassNameValue),
            ],
        });
    }

    // Reads and validates the three model configs (again: the loaders read them too, which costs milliseconds), estimates
    // their parameters (ResourceEstimate) and refuses a config that outgrows its weights file or the memory; returns them.
    static (VaeConfig Vae, ClipTextConfig Text, UNetConfig UNet) CheckSizes(string root)
    {
        VaeConfig? vae = null;
        ClipTextConfig? text = null;
        UNetConfig? unet = null;
        double Check<T>(string component, string className, string weightsFile, string keys, Action<T, string> validate, Func<T, double> count)
            where T : JsonConfig => Wrap(component, root, () =>
        {
            string configPath = Path.Combine(root, component, PretrainedFolder.ConfigFileName);
            T config = ConfigFile.Read<T>(configPath, className).Config;
            validate(config, configPath);
            double estimate = count(config);
            ResourceEstimate.CheckAgainstWeights(configPath, keys, estimate, Path.Combine(root, component, weightsFile));
            switch (config) { case VaeConfig v: vae = v; break; case ClipTextConfig t: text = t; break; case UNetConfig u: unet = u; break; }
            return estimate;
        });
        double total = Check<VaeConfig>("vae", VaeConfig.ClassNameValue, AutoencoderKL.WeightsFileName, "block_out_channels and layers_per_block",
                (c, s) => c.Validate(s), ResourceEstimate.VaeParameters)
            + Check<ClipTextConfig>("text_encoder", ClipTextConfig.ClassName, ClipTextModel.WeightsFileName,
                "vocab_size, hidden_size, intermediate_size and num_hidden_layers", (c, s) => c.Validate(s), ResourceEstimate.TextEncoderParameters)
            + Check<UNetConfig>("unet", UNetConfig.ClassNameValue, UNet2DConditionModel.WeightsFileName,
                "block_out_channels, layers_per_block, transformer_layers_per_block and cross_attention_dim", (c, s) => c.Validate(s), ResourceEstimate.UNetParameters);
        // float32 weights, plus a fifth for the copies a load makes one tensor at a time.
        ResourceEstimate.CheckFits(4 * 1.2 * total, $"loading '{root}' ({total / 1e6:F0} million parameters in float32)");
        return (vae!, text!, unet!);
    }

    // Missing files keep their own exception (it names the path); a file that does not fit becomes InvalidDataException.
    static T Wrap<T>(string component, string root, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is ConfigException or StateDictMismatchException or FormatException or SafeTensorsFormatException
                                       or (ArgumentException and not ArgumentNullException))
        {
            throw new InvalidDataException($"pipeline '{root}', {component}: {e.Message}", e);
        }
    }
}
