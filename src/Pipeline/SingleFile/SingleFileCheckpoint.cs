using Latent.Core.Config;
using Latent.Core.IO;
using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.SingleFile;

/// <summary>
/// Loads a Stable Diffusion 1.x single file (original LDM key names: <c>model.diffusion_model.*</c>,
/// <c>first_stage_model.*</c>, <c>cond_stage_model.transformer.*</c>) into our diffusers-named modules, strictly.
/// </summary>
/// <remarks>
/// <para>1. Refuse other families (<see cref="SingleFileArchitecture.CheckFamily"/>). 2. Configs: each of
/// <c>unet/</c>, <c>vae/</c>, <c>text_encoder/</c> and <c>scheduler/</c> of the config folder when it has one, else read
/// from the keys and shapes (<see cref="SingleFileArchitecture.Infer"/>). 3. Rename every key with
/// <see cref="LdmKeyMap"/>; <c>model_ema.*</c> and LDM's noise-schedule buffers are ignored, any other key no rule
/// matches is an error that lists them. 4. Load each module strictly, one tensor at a time from the memory map
/// (fp16 and fp32 files both load into float32 modules).</para>
/// <para>A single file has no tokenizer: the config folder's <c>tokenizer/</c> is required (any SD 1.x diffusers
/// folder has CLIP ViT-L/14's).</para>
/// </remarks>
public static class SingleFileCheckpoint
{
    /// <summary>Top-level keys of LDM's <c>LatentDiffusion</c> that are not weights of our modules: its noise-schedule buffers.</summary>
    public static readonly IReadOnlySet<string> IgnoredKeys = new HashSet<string>(StringComparer.Ordinal)
    {
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
        "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "logvar", "lvlb_weights",
    };

    /// <summary>The EMA copy of the U-Net that training checkpoints carry; ignored (pruned files already hold the EMA weights as the model).</summary>
    public const string EmaPrefix = "model_ema.";

    /// <summary>Whether <paramref name="path"/> names a single-file checkpoint rather than a diffusers folder.</summary>
    public static bool IsSingleFile(string path) =>
        !Directory.Exists(path) && Path.GetExtension(path).ToLowerInvariant() is ".safetensors" or ".ckpt" or ".pt" or ".pth";

    /// <summary>Loads the modules of <paramref name="path"/>; the caller owns them.</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    /// <param name="configDirectory">A diffusers folder whose configs (and tokenizer) to use; its weights are not read.</param>
    /// <exception cref="NotSupportedException">Another family, or a format not read yet; one line names the key or extension.</exception>
    /// <exception cref="InvalidDataException">A key no rule matches, or a config or weight that does not fit.</exception>
    /// <exception cref="FileNotFoundException">The file or the tokenizer is missing.</exception>
    internal static PipelineComponents Load(string path, string? configDirectory)
    {
        using var file = CheckpointTensors.Open(path);
        SingleFileArchitecture.CheckFamily(file.Shapes, path);
        if (configDirectory is null || !Directory.Exists(Path.Combine(configDirectory, "tokenizer")))
            throw new FileNotFoundException(
                $"'{path}' is a single file without a tokenizer; pass a config folder with tokenizer/ (--config DIR: any SD 1.x diffusers folder, e.g. stable-diffusion-v1-5's configs and tokenizer)",
                configDirectory is null ? "tokenizer" : Path.Combine(configDirectory, "tokenizer"));

        // 2. Configs: the folder's where it has them, else from the keys.
        SingleFileConfigs inferred = SingleFileArchitecture.Infer(file.Shapes, path);
        UNetConfig unetConfig = ReadOr(configDirectory, "unet", UNetConfig.ClassNameValue, inferred.UNet, (c, s) => c.Validate(s));
        VaeConfig vaeConfig = ReadOr(configDirectory, "vae", VaeConfig.ClassNameValue, inferred.Vae, (c, s) => c.Validate(s));
        ClipTextConfig textConfig = ReadOr(configDirectory, "text_encoder", ClipTextConfig.ClassName, inferred.TextEncoder, (c, s) => c.Validate(s));
        string schedulerPath = Path.Combine(configDirectory, "scheduler", "scheduler_config.json");
        SchedulerConfig scheduler = File.Exists(schedulerPath) ? NoiseSchedulers.Load(schedulerPath).Config : SingleFileArchitecture.Sd1Scheduler;
        ClipTokenizer tokenizer = ClipTokenizer.FromPretrained(Path.Combine(configDirectory, "tokenizer"));

        // 3. Every key to ours, or listed.
        var map = new LdmKeyMap(SingleFileArchitecture.LayoutOf(unetConfig, vaeConfig));
        var byComponent = Enum.GetValues<SingleFileComponent>().ToDictionary(c => c, _ => new List<(string Ours, string Ldm, bool Squeeze)>());
        var unmatched = new List<string>();
        foreach (string key in file.Shapes.Keys.Order(StringComparer.Ordinal))
        {
            if (key.StartsWith(EmaPrefix, StringComparison.Ordinal) || IgnoredKeys.Contains(key)) continue;
            if (map.ToOurs(key) is { } m) byComponent[m.Component].Add((m.Key, key, m.SqueezeConv));
            else unmatched.Add(key);
        }
        if (unmatched.Count > 0)
            throw new InvalidDataException(
                $"'{path}': {unmatched.Count} key(s) match no SD 1.x rule: {string.Join(", ", unmatched.Take(20))}{(unmatched.Count > 20 ? ", ..." : "")}");

        // 4. Each module strictly; the ones built before a failure are freed.
        var built = new List<nn.Module>();
        try
        {
            var vae = Build(new AutoencoderKL(vaeConfig), byComponent[SingleFileComponent.Vae], file, built, LoadOptions.Default);
            var text = Build(new ClipTextModel(textConfig), byComponent[SingleFileComponent.TextEncoder], file, built, ClipTextModel.CheckpointLoadOptions);
            var unet = Build(new UNet2DConditionModel(unetConfig), byComponent[SingleFileComponent.UNet], file, built, LoadOptions.Default);
            return new PipelineComponents(vae, text, tokenizer, unet, scheduler) { SchedulerSource = File.Exists(schedulerPath) ? schedulerPath : null };
        }
        catch
        {
            foreach (var module in built) module.Dispose();
            throw;
        }
    }

    static T Build<T>(T module, List<(string Ours, string Ldm, bool Squeeze)> keys, CheckpointTensors file, List<nn.Module> built, LoadOptions options)
        where T : nn.Module
    {
        built.Add(module);
        var ldmOf = keys.ToDictionary(k => k.Ours, k => k, StringComparer.Ordinal);
        var shapes = keys.Select(k => (k.Ours, Squeeze(file.Shapes[k.Ldm], k.Squeeze))).ToList();
        Tensor Read(string ours)
        {
            var (_, ldm, squeeze) = ldmOf[ours];
            Tensor t = file.Read(ldm);
            if (!squeeze || t.dim() != 4) return t;
            using (t) return t.reshape(t.shape[0], t.shape[1]); // [C, C, 1, 1] conv -> [C, C] linear
        }
        try
        {
            StateDictLoader.LoadLazy(module, shapes, Read, file.Path, options);
        }
        catch (StateDictMismatchException e)
        {
            throw new InvalidDataException($"{typeof(T).Name}: {e.Message}", e);
        }
        module.eval();
        return module;
    }

    static long[] Squeeze(long[] shape, bool squeeze) => squeeze && shape.Length == 4 ? [shape[0], shape[1]] : shape;

    static T ReadOr<T>(string directory, string component, string className, T inferred, Action<T, string> validate) where T : JsonConfig
    {
        string path = Path.Combine(directory, component, PretrainedFolder.ConfigFileName);
        T config = File.Exists(path) ? ConfigFile.Read<T>(path, className).Config : inferred;
        validate(config, File.Exists(path) ? path : $"the config inferred from the keys ({component})");
        return config;
    }
}
