// Text-to-image latency of our pipeline for bench/txt2img.sh, which runs the same three models in PyTorch
// (bench/txt2img.py) alternately. What is timed is StableDiffusionPipeline.Generate end to end, the code path of
// `latent txt2img`: tokenize, encode the prompts and the empty negative prompt, `steps` DDIM steps with batched
// classifier-free guidance (one [uncond; cond] U-Net call per step, scale 7.5), VAE decode. Per dtype (the U-Net's,
// as PipelineOptions.Dtype: the text encoder and the VAE stay float32) and batch (prompts per call): one warm-up
// call, then the median of `calls` timed calls, reported per image as one JSON line. --runtimes picks the models'
// engine (PipelineOptions.Runtime): libtorch (all three parts, both dtypes), onnxruntime (all three parts, float32
// only) and onnxruntime-int8 (the same with the U-Net's linear layers in int8, PipelineOptions.UNetLinearWeights). Either way the text keys/values are computed once per call and the empty negative prompt once per model.
//   latent-bench-txt2img [--model DIR] [--threads N] [--calls 5] [--steps 30] [--batches 1,4] [--dtypes fp32,bf16]
//                        [--runtimes libtorch,onnxruntime]
//   latent-bench-txt2img --make-random DIR [--tokenizer DIR]
//   latent-bench-txt2img --parts CALLS [--model DIR] [--threads N]   (per-part ms and GFLOPS: bench/parts.sh)
//   latent-bench-txt2img --onnx-precision ROUNDS [--calls N] [--model DIR] [--threads N]   (int8 U-Net, fp16/bf16 trial: bench/onnx_precision.sh)
// --model defaults to weights/emoji-64 of the repository. --make-random writes a pipeline folder with random weights
// and the shipped architecture (VaeConfig.Light, ClipTextConfig.Default, UNetConfig.Default, SD's DDIM schedule), as
// UNetTrainer.Export lays it out; its tokenizer is copied from --tokenizer (default tests/fixtures/parity/tokenizer).
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Pipeline;
using Latent.Schedulers;
using Latent.Training.UNet;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

var options = ParseOptions(args);
string root = RepositoryRoot();

if (options.TryGetValue("make-random", out string? randomDir))
{
    TorchEngine.Initialize(int.Parse(options.GetValueOrDefault("threads", $"{Environment.ProcessorCount}"), CultureInfo.InvariantCulture));
    MakeRandomPipeline(randomDir, options.GetValueOrDefault("tokenizer", Path.Combine(root, "tests", "fixtures", "parity", "tokenizer")));
    Console.Error.WriteLine($"# wrote a random-weights pipeline to {Path.GetFullPath(randomDir)}");
    return;
}

string model = Path.GetFullPath(options.GetValueOrDefault("model", Path.Combine(root, "weights", "emoji-64")));
int threads = Int("threads", Environment.ProcessorCount);
int calls = Int("calls", 5);
int steps = Int("steps", 30);
int[] batches = options.GetValueOrDefault("batches", "1,4").Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();
string[] dtypes = options.GetValueOrDefault("dtypes", "fp32,bf16").Split(',');
string[] runtimes = options.GetValueOrDefault("runtimes", "libtorch,onnxruntime").Split(',');
if (calls < 1 || steps < 1 || batches.Any(b => b < 1))
    throw new ArgumentException($"expected calls >= 1, steps >= 1, batches >= 1; got calls={calls}, steps={steps}, batches={string.Join(",", batches)}", nameof(args));
TorchEngine.Initialize(threads);

if (options.TryGetValue("onnx-precision", out string? precisionRounds))
{
    Latent.Bench.Txt2Img.OnnxPrecisionBench.Run(model, threads, int.Parse(precisionRounds, CultureInfo.InvariantCulture), calls);
    return;
}

if (options.TryGetValue("parts", out string? partCalls))
{
    Latent.Bench.Txt2Img.PartsBench.Run(model, threads, int.Parse(partCalls, CultureInfo.InvariantCulture));
    return;
}

// Parameter counts and key/shape fingerprints of the three models, as bench/txt2img.py computes them for its own.
var (parameters, arch) = Describe(model);
Console.Error.WriteLine($"# torchsharp: {model}, {threads} threads; parameters " +
                        string.Join(", ", parameters.Select(p => $"{p.Key} {p.Value:N0}")));

string[] prompts = ["a grinning face with big eyes", "a red heart", "a cat face with tears of joy", "a thumbs up sign"];
foreach (string runtimeName in runtimes)
foreach (string dtypeName in dtypes)
{
    UNetRuntime runtime = runtimeName switch
    {
        "libtorch" => UNetRuntime.LibTorch,
        "onnxruntime" or "onnxruntime-int8" => UNetRuntime.OnnxRuntime,
        _ => throw new ArgumentException($"runtime '{runtimeName}' is unknown; expected libtorch, onnxruntime or onnxruntime-int8", nameof(args)),
    };
    if (runtime == UNetRuntime.OnnxRuntime && dtypeName != "fp32") continue;   // ONNX Runtime runs the U-Net in float32
    ScalarType dtype = dtypeName switch
    {
        "fp32" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        _ => throw new ArgumentException($"dtype '{dtypeName}' is unknown; expected fp32 or bf16", nameof(args)),
    };
    using var pipeline = StableDiffusionPipeline.Load(model, new PipelineOptions
    {
        Dtype = dtype, Runtime = runtime,
        UNetLinearWeights = runtimeName == "onnxruntime-int8" ? Latent.Core.Onnx.OnnxLinearWeights.DynamicInt8 : Latent.Core.Onnx.OnnxLinearWeights.Float32,
    });
    foreach (int batch in batches)
    {
        GenerationRequest Request(int seed) => new()
        {
            Prompts = Enumerable.Range(0, batch).Select(i => prompts[i % prompts.Length]).ToArray(),
            GuidanceScale = 7.5,
            Steps = steps,
            Scheduler = SchedulerKind.Ddim,
            Seed = seed,
        };
        using (pipeline.Generate(Request(0))) { }   // warm-up
        var times = new double[calls];
        // This process's CPU seconds over the timed calls too: on a machine shared with other jobs it is steadier than the wall.
        using var self = Process.GetCurrentProcess();
        TimeSpan cpu0 = self.TotalProcessorTime;
        for (int i = 0; i < calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            var result = pipeline.Generate(Request(i + 1));
            times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            result.Dispose();
        }
        self.Refresh();
        double cpuPerImage = (self.TotalProcessorTime - cpu0).TotalSeconds / calls / batch;
        double median = Latent.Bench.Txt2Img.CallTiming.Median(times);
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["impl"] = "torchsharp",
            ["dtype"] = dtypeName,
            ["runtime"] = runtimeName,
            ["batch"] = batch,
            ["steps"] = steps,
            ["threads"] = threads,
            ["calls"] = calls,
            ["seconds_per_image"] = Math.Round(median / batch, 5),
            ["seconds_per_call"] = Math.Round(median, 5),
            ["cpu_seconds_per_image"] = Math.Round(cpuPerImage, 5),
            ["params"] = parameters,
            ["arch"] = arch,
        }));
    }
}

int Int(string key, int fallback) =>
    options.TryGetValue(key, out string? v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

// --key value pairs; every key takes a value.
static Dictionary<string, string> ParseOptions(string[] args)
{
    string[] known = ["model", "threads", "calls", "steps", "batches", "dtypes", "runtimes", "make-random", "tokenizer", "parts", "onnx-precision"];
    var options = new Dictionary<string, string>();
    for (int i = 0; i < args.Length; i++)
    {
        string key = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : "";
        if (!known.Contains(key) || i + 1 >= args.Length)
            throw new ArgumentException($"argument '{args[i]}' is not understood; expected one of --{string.Join(" N, --", known)} N", nameof(args));
        options[key] = args[++i];
    }
    return options;
}

// The folder with Latent.sln above the binary (bin/... of the artifacts), else the current folder.
static string RepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "Latent.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}


// Parameters per model and a fingerprint of every parameter's key and shape, sorted (ordinal): equal to PyTorch's only
// for the same architecture.
static (Dictionary<string, long> Parameters, Dictionary<string, string> Arch) Describe(string model)
{
    using var vae = AutoencoderKL.FromPretrained(Path.Combine(model, "vae"));
    using var textEncoder = ClipTextModel.FromPretrained(Path.Combine(model, "text_encoder"));
    using var unet = UNet2DConditionModel.FromPretrained(Path.Combine(model, "unet"));
    var modules = new (string Name, nn.Module Module)[] { ("text_encoder", textEncoder), ("unet", unet), ("vae", vae) };
    return (modules.ToDictionary(m => m.Name, m => m.Module.parameters().Sum(p => p.numel())),
            modules.ToDictionary(m => m.Name, m => Fingerprint(m.Module)));
}

static string Fingerprint(nn.Module module)
{
    var keys = module.named_parameters().Select(np => $"{np.name}:{string.Join(",", np.parameter.shape)}").Order(StringComparer.Ordinal);
    return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", keys))))[..16];
}

// The layout of UNetTrainer.Export with random weights (seed 0): speed only, the images are noise.
static void MakeRandomPipeline(string dir, string tokenizerDir)
{
    manual_seed(0);
    using var vae = new AutoencoderKL(VaeConfig.Light);
    using var textEncoder = new ClipTextModel(ClipTextConfig.Default);
    using var unet = new UNet2DConditionModel(UNetConfig.Default);
    ClipTokenizer tokenizer = ClipTokenizer.FromPretrained(tokenizerDir);
    // The pipeline's constructor checks that the tokenizer's vocabulary fits the text encoder.
    using var pipeline = new StableDiffusionPipeline(vae, textEncoder, tokenizer, unet, UNetTrainer.SamplerConfigFor(PredictionType.Epsilon));
    pipeline.SavePretrained(dir);
}
