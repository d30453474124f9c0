using Latent.Pipeline.Metadata;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Core.Onnx;
using Latent.Pipeline;
using Latent.Pipeline.Guidance;
using Latent.Pipeline.Lora;
using Latent.Pipeline.Ort;
using Latent.Schedulers;
using Spectre.Console;
using static TorchSharp.torch;

namespace Latent.Cli.Commands;

/// <summary><c>latent txt2img "a cat"</c>: generate images from a prompt with a diffusers pipeline folder.</summary>
public static class TxtToImgCommand
{
    static readonly Argument<string> Prompt = new("prompt") { Description = "What the image should show, e.g. \"a photo of a cat\"." };

    /// <summary>Builds the command (registered as <c>latent txt2img</c>).</summary>
    public static Command Create()
    {
        var command = new Command("txt2img", "Generate images from a prompt; each PNG carries its settings in AUTOMATIC1111's 'parameters' text.");
        command.Arguments.Add(Prompt);
        GenerationOptions.AddTo(command, strength: false);
        ClassifierGuidanceOptions.AddTo(command, withClass: true);   // issue 25
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        var timings = new RunTimings(parsed.GetValue(GenerationOptions.Timings));
        string prompt = GenerationOptions.CheckPrompt(parsed.GetValue(Prompt));
        string modelDir = GenerationOptions.FindModel(parsed.GetValue(GenerationOptions.Model));
        string? classifierDir = ClassifierGuidanceOptions.Folder(parsed, withClass: true);
        GlobalOptions.StartEngine(parsed);
        timings.Mark("engine start (TorchSharp, libtorch)");
        using var pipeline = GenerationOptions.LoadPipeline(parsed, modelDir);
        timings.Mark("load", pipeline.LoadTimings);
        GenerationRequest request = GenerationOptions.Request(parsed, pipeline, prompt);
        // Issue 25: classifier guidance toward --class, alone or with --cfg.
        var (classifier, classes) = classifierDir is null ? (null, null) : ClassifierFolder.Load(classifierDir);
        using var classifierModule = classifier;
        if (classifier is not null) request = request with { ClassifierGuidance = ClassifierGuidanceOptions.ForClass(parsed, classifier, classes!, request.ImagesPerPrompt) };
        var clock = Stopwatch.StartNew();
        using GenerationResult result = GenerationOptions.WithProgress(request.Steps,
            progress => pipeline.Generate(request, progress));
        timings.Mark("generate", result.Timings);
        GenerationOptions.Save(parsed, result, clock.Elapsed);
        timings.Mark("write the PNG");
        timings.Print();
        return 0;
    }
}

/// <summary>The options <c>txt2img</c> and <c>img2img</c> share, and their common steps (model lookup, progress, saving).</summary>
internal static class GenerationOptions
{
    /// <summary>Where the default model lives, relative to the repository root.</summary>
    public static readonly string DefaultModel = Path.Combine("weights", "emoji-64");

    public static readonly Option<double> Cfg = new("--cfg")
    {
        Description = "Classifier-free guidance scale; 1 or less turns guidance off.",
        DefaultValueFactory = _ => 7.5,
        Validators = { OptionChecks.Rule<double>(v => double.IsFinite(v) && v >= 0 ? null : $"--cfg must be a finite number >= 0; got {v}.") },
    };

    public static readonly Option<int> Steps = new("--steps")
    {
        Description = "Denoising steps.",
        DefaultValueFactory = _ => 30,
        Validators = { OptionChecks.Rule<int>(v => v is >= 1 and <= 1000 ? null : $"--steps must be in [1, 1000]; got {v}.") },
    };

    public static readonly Option<string?> Scheduler = new("--scheduler")
    {
        Description = $"Sampler: {string.Join(", ", SchedulerKinds.CliNames)}; default: the model's own scheduler.",
        Validators = { OptionChecks.Rule<string?>(v => v is null || SchedulerKinds.CliNames.Contains(v.Trim().ToLowerInvariant()) ? null
            : $"--scheduler must be one of {string.Join(", ", SchedulerKinds.CliNames)}; got '{v}'.") },
    };

    public static readonly Option<long> Seed = new("--seed")
    {
        Description = "Seed of the noise (one generator for all images); -1 (the default) picks one at random and prints it.",
        DefaultValueFactory = _ => -1,
        Validators = { OptionChecks.Rule<long>(v => v >= -1 ? null : $"--seed must be -1 (random) or 0 or more; got {v}.") },
    };

    public static readonly Option<string> Negative = new("--negative") { Description = "Negative prompt: what the images should not show.", DefaultValueFactory = _ => "" };

    public static readonly Option<int> Count = new("--n")
    {
        Description = "Number of images.",
        DefaultValueFactory = _ => 1,
        Validators = { OptionChecks.Rule<int>(v => v is >= 1 and <= 64 ? null : $"--n must be in [1, 64]; got {v}.") },
    };

    public static readonly Option<string?> Size = new("--size")
    {
        Description = "Image size: 64 or WIDTHxHEIGHT (64x64); multiples of the model's factor. Default: the model's size.",
        Validators = { OptionChecks.Rule<string?>(v => v is null || ParseSize(v) is not null ? null : $"--size must be N or WIDTHxHEIGHT with positive integers (e.g. 64 or 64x64); got '{v}'.") },
    };

    public static readonly Option<string> Out = new("--out")
    {
        Description = "A .png file, or a folder for numbered files (created when missing).",
        DefaultValueFactory = _ => "outputs",
        Validators = { OptionChecks.Rule<string>(CheckOut) },
    };

    /// <summary>Image extensions other than .png: an --out ending in one is a mistake (only PNG is written), not a folder name.</summary>
    static readonly string[] OtherImageExtensions = [".jpg", ".jpeg", ".jpe", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif", ".ico"];

    // An --out ending in .png is a file; one ending in another image extension used to become a folder of that name.
    static string? CheckOut(string value)
    {
        string extension = Path.GetExtension(value.TrimEnd('/', '\\'));
        return OtherImageExtensions.Contains(extension, StringComparer.OrdinalIgnoreCase)
            ? $"--out must be a .png file or a folder; got '{value}', a {extension} name (only PNG is written)."
            : null;
    }

    public static readonly Option<string?> Model = new("--model")
    {
        Description = $"A diffusers pipeline folder (model_index.json, vae/, text_encoder/, tokenizer/, unet/, scheduler/), or an SD 1.x single .safetensors or .ckpt file (with --config); default: {DefaultModel} of this repository.",
    };

    public static readonly Option<string?> Config = new("--config")
    {
        Description = "For a single-file --model: a diffusers folder whose configs and tokenizer to use (e.g. stable-diffusion-v1-5's; its weights are not read).",
    };

    public static readonly Option<string[]> Lora = new("--lora")
    {
        Description = "A LoRA to fuse, FILE or FILE:WEIGHT (kohya or diffusers/PEFT .safetensors); repeatable.",
        AllowMultipleArgumentsPerToken = false,
        DefaultValueFactory = _ => [],
    };

    public static readonly Option<string> Dtype = new("--dtype")
    {
        Description = "The U-Net's compute dtype: fp32, or bf16 (faster on CPUs with bf16 units, images differ slightly).",
        DefaultValueFactory = _ => "fp32",
        Validators = { OptionChecks.Rule<string>(v => v is "fp32" or "bf16" ? null : $"--dtype must be fp32 or bf16; got '{v}'.") },
    };

    public static readonly Option<string> Runtime = new("--runtime")
    {
        Description = "The models' engine: auto (ONNX Runtime for the text encoder and the VAE, and for an fp32 U-Net that fits one ONNX file; else LibTorch), onnxruntime (fp32 only) or libtorch.",
        DefaultValueFactory = _ => "auto",
        Validators = { OptionChecks.Rule<string>(v => v is "auto" or "onnxruntime" or "libtorch" ? null : $"--runtime must be auto, onnxruntime or libtorch; got '{v}'.") },
    };

    public static readonly Option<bool> OnnxInt8 = new("--onnx-int8")
    {
        Description = "Run the U-Net's linear layers in int8 on ONNX Runtime (weights quantised per output channel, activations per call; "
                      + "the noise prediction within about 1% of fp32's; see docs/PERFORMANCE.md for its speed). Needs --runtime auto or onnxruntime and --dtype fp32.",
    };

    public static readonly Option<bool> Grid = new("--grid") { Description = "Save all images as one sheet instead of one file each." };

    public static readonly Option<bool> Timings = new("--timings")
    {
        Description = "Print where the time goes, from process start to the PNG (engine start, loading, each ONNX Runtime session, text encoder, denoising, VAE, PNG), on stderr.",
    };

    public static readonly Option<bool> NoOnnxCache = new("--no-onnx-cache")
    {
        Description = "Neither read nor write ONNX Runtime's optimised models in the cache folder ($LATENT_CACHE_DIR/onnx, $XDG_CACHE_HOME/latent/onnx or ~/.cache/latent/onnx): export and optimise every run.",
    };

    public static readonly Option<double> Eta = new("--eta")
    {
        Description = "DDIM's eta in [0, 1] (0: deterministic); ignored by the other samplers.",
        DefaultValueFactory = _ => 0,
        Validators = { OptionChecks.Rule<double>(v => v is >= 0 and <= 1 ? null : $"--eta must be in [0, 1]; got {v}.") },
    };

    public static readonly Option<double> Strength = new("--strength")
    {
        Description = "How much to change the image, in [0, 1]: 0 keeps it, 1 ignores it.",
        DefaultValueFactory = _ => 0.75,
        Validators = { OptionChecks.Rule<double>(v => v is >= 0 and <= 1 ? null : $"--strength must be in [0, 1]; got {v}.") },
    };

    public static void AddTo(Command command, bool strength)
    {
        foreach (Option o in new Option[] { Cfg, Steps, Scheduler, Seed, Negative, Count, Size, Out, Model, Config, Lora, Dtype, Runtime, OnnxInt8, Grid, Eta, Timings, NoOnnxCache })
            command.Options.Add(o);
        if (strength) command.Options.Add(Strength);
    }

    public static string CheckPrompt(string? prompt) => string.IsNullOrWhiteSpace(prompt)
        ? throw new ArgumentException("the prompt is empty; expected text, e.g. latent txt2img \"a photo of a cat\"")
        : prompt.Trim();

    /// <summary>--model, or weights/emoji-64 found above the working directory or the app (the repository root).</summary>
    public static string FindModel(string? model)
    {
        if (model is not null)
            return Directory.Exists(model) || File.Exists(model) ? model
                : throw new DirectoryNotFoundException($"--model '{Path.GetFullPath(model)}' does not exist; expected a diffusers folder or a .safetensors/.ckpt file");
        string? fallback = null;
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, DefaultModel);
                if (File.Exists(Path.Combine(candidate, "model_index.json"))) return candidate;
                if (fallback is null && Directory.Exists(Path.Combine(dir.FullName, "weights"))) fallback = candidate;
            }
        }
        fallback ??= Path.GetFullPath(DefaultModel);
        throw new DirectoryNotFoundException($"no model at {fallback}; train one (see README) or pass --model");
    }

    public static StableDiffusionPipeline LoadPipeline(ParseResult parsed, string modelDir)
    {
        ScalarType dtype = parsed.GetValue(Dtype) == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        UNetRuntime runtime = parsed.GetValue(Runtime) switch
        {
            "onnxruntime" => UNetRuntime.OnnxRuntime,
            "libtorch" => UNetRuntime.LibTorch,
            _ => UNetRuntime.Auto,
        };
        bool int8 = parsed.GetValue(OnnxInt8);
        if (int8 && runtime == UNetRuntime.LibTorch)
            throw new ArgumentException("--onnx-int8 runs the U-Net on ONNX Runtime; it cannot be combined with --runtime libtorch (use --runtime auto or onnxruntime)");
        if (int8 && dtype != ScalarType.Float32)
            throw new ArgumentException("--onnx-int8 cannot be combined with --dtype bf16: the int8 U-Net runs on ONNX Runtime with fp32 activations (use --dtype fp32)");
        string? config = parsed.GetValue(Config);
        if (config is not null && !Directory.Exists(config))
            throw new DirectoryNotFoundException($"--config folder '{Path.GetFullPath(config)}' does not exist; expected a diffusers folder with tokenizer/");
        var loras = (parsed.GetValue(Lora) ?? []).Select(LoraSpec.Parse).ToList();
        string? cache = parsed.GetValue(NoOnnxCache) ? null : OnnxModelCache.DefaultDirectory();
        var pipeline = StableDiffusionPipeline.Load(modelDir,
            new PipelineOptions
            {
                Dtype = dtype, Runtime = runtime, ConfigDirectory = config, OnnxCacheDirectory = cache,
                UNetLinearWeights = int8 ? OnnxLinearWeights.DynamicInt8 : OnnxLinearWeights.Float32,
            });
        try
        {
            if (loras.Count > 0) pipeline.SetLoras(loras);
            return pipeline;
        }
        catch
        {
            pipeline.Dispose();
            throw;
        }
    }

    public static GenerationRequest Request(ParseResult parsed, StableDiffusionPipeline pipeline, string prompt)
    {
        (int width, int height) = parsed.GetValue(Size) is { } size ? ParseSize(size)!.Value : (pipeline.DefaultSize, pipeline.DefaultSize);
        long seed = parsed.GetValue(Seed);
        return new GenerationRequest
        {
            Prompts = [prompt],
            NegativePrompt = parsed.GetValue(Negative)?.Trim() ?? "",
            GuidanceScale = parsed.GetValue(Cfg),
            Steps = parsed.GetValue(Steps),
            Scheduler = parsed.GetValue(Scheduler) is { } name ? SchedulerKinds.Parse(name) : null,
            Seed = seed >= 0 ? seed : Random.Shared.NextInt64(0, 1L << 32),
            Width = width,
            Height = height,
            ImagesPerPrompt = parsed.GetValue(Count),
            Eta = parsed.GetValue(Eta),
        };
    }

    /// <summary>Runs <paramref name="generate"/> under a progress bar on a terminal; plain (no bar) when output is redirected.</summary>
    public static GenerationResult WithProgress(int steps, Func<IProgress<GenerationProgress>?, GenerationResult> generate)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive || Console.IsOutputRedirected)
            return generate(null);
        GenerationResult? result = null;
        AnsiConsole.Progress().AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask("denoising", maxValue: steps);
                result = generate(new Callback(p => { task.MaxValue = p.TotalSteps; task.Value = p.Step; }));
            });
        return result!;
    }

    /// <summary>Writes the images (or one grid) as PNGs with their parameters, and says where.</summary>
    public static void Save(ParseResult parsed, GenerationResult result, TimeSpan elapsed)
    {
        string output = parsed.GetValue(Out)!;
        bool toFile = output.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
        int count = (int)result.Images.shape[0];
        var written = new List<string>();
        if (parsed.GetValue(Grid) && count > 1)
        {
            using Tensor sheet = ImageGrid.Tile(result.Images, columns: (int)Math.Ceiling(Math.Sqrt(count)));
            string path = toFile ? output : OutputNames.NextFree(output, $"grid-{result.Seeds[0]}");
            GenerationParameters first = result.Parameters[0];
            Write(sheet, first with { Extras = first.Extras?.Where(e => e.Key != "Batch pos").ToArray() }, path, claimed: !toFile);
            written.Add(path);
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                string path = toFile
                    ? (count == 1 ? output : Path.ChangeExtension(output, null) + $"-{i + 1}.png")
                    : OutputNames.NextFree(output, result.Seeds[i].ToString(CultureInfo.InvariantCulture));
                using Tensor image = result.Images[i];
                Write(image, result.Parameters[i], path, claimed: !toFile);
                written.Add(path);
            }
        }
        foreach (string path in written) Console.WriteLine($"wrote {Path.GetFullPath(path)}");
        Console.WriteLine($"{count} image{(count == 1 ? "" : "s")}, seed {result.Seeds[0]}, in {elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
    }

    static void Write(Tensor image, GenerationParameters parameters, string path, bool claimed)
    {
        try
        {
            AtomicFile.WriteAllBytes(path, GenerationPng.Encode(image, parameters));
        }
        catch
        {
            // Give back a number claimed by NextFree (an empty placeholder) when the image could not be written.
            if (claimed && new FileInfo(path) is { Exists: true, Length: 0 }) File.Delete(path);
            throw;
        }
    }

    /// <summary>"64" or "64x48" (width x height); null when malformed.</summary>
    public static (int Width, int Height)? ParseSize(string text)
    {
        string[] parts = text.Trim().ToLowerInvariant().Split('x');
        if (parts.Length is < 1 or > 2) return null;
        var sides = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sides[i]) || sides[i] <= 0) return null;
        return (sides[0], sides[^1]);
    }

    sealed class Callback(Action<GenerationProgress> action) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => action(value);
    }
}
