// Data-parallel throughput of the U-Net trainer (docs/training/distributed.md): the real UNetTrainer with the default
// U-Net (22.5M parameters) on 16x16x4 latents of weights/emoji-64's VAE and its 256-wide text encoder, on 64 synthetic
// 64x64 images. Run as one process or under MPICH's mpiexec, one engine thread per rank:
//   latent-bench-data-parallel [batch=32] [steps=6] [weights=weights/emoji-64]
//   mpiexec.mpich -n 2 latent-bench-data-parallel 32 6
// Rank 0 prints one JSON line: the median step time, samples/s, the median time per step inside collective calls
// (gradient and loss all-reduce, waiting for the slower rank included), and the median of a bare all-reduce of the
// whole 22.5M-float gradient after a barrier (the transfer alone).
using System.Diagnostics;
using System.Globalization;
using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Core.Training;
using Latent.Distributed;
using Latent.Training.UNet;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using static TorchSharp.torch;

int batch = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 32;
int steps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 6;
string weights = Path.GetFullPath(args.Length > 2 ? args[2] : "weights/emoji-64");

IDataParallel parallel = MpiLaunch.Detect() is null ? SingleProcess.Instance : StartMpi();
TorchEngine.Initialize(1);
string root = Path.Combine(Path.GetTempPath(), $"latent-bench-data-parallel-{parallel.Size}");
string data = Path.Combine(root, "data");
if (parallel.Rank == 0) WriteImages(data, 64);
parallel.Barrier("the data set", Timeout.InfiniteTimeSpan);

using var vae = AutoencoderKL.FromPretrained(Path.Combine(weights, "vae"));
using var text = ClipTextModel.FromPretrained(Path.Combine(weights, "text_encoder"));
var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(weights, "tokenizer"));
var set = ImageFolderDataset.Read(data);
LatentCache Cache() => LatentCache.Build(Path.Combine(root, "cache"), set, new ImageSize(64, 64), vae, text, tokenizer);
LatentCache? built = parallel.Rank == 0 ? Cache() : null;
parallel.Barrier("the latent cache", Timeout.InfiniteTimeSpan);
using var cache = built ?? Cache();

var model = UNetConfig.Default with { CrossAttentionDim = (int)cache.TextShape[1], SampleSize = (int)cache.LatentShape[1] };
var config = new UNetTrainingConfig { Steps = 1000, BatchSize = batch, CheckpointInterval = 0, SampleInterval = 0 };
using var trainer = new UNetTrainer(model, config, cache, vae, text, tokenizer, Path.Combine(root, $"run-rank{parallel.Rank}"), parallel);
long parameters = trainer.Model.parameters().Sum(p => p.numel());

trainer.TrainStep();   // warm-up
var stepMs = new List<double>();
var collectiveMs = new List<double>();
for (int i = 0; i < steps; i++)
{
    double before = parallel.CollectiveTime.TotalMilliseconds;
    var clock = Stopwatch.StartNew();
    trainer.TrainStep();
    stepMs.Add(clock.Elapsed.TotalMilliseconds);
    collectiveMs.Add(parallel.CollectiveTime.TotalMilliseconds - before);
}

// The transfer alone: the whole gradient as one buffer, after a barrier so that no rank waits for another.
var bareMs = new List<double>();
using (var gradient = zeros(parameters))
{
    for (int i = 0; i < 3 && parallel.Size > 1; i++)
    {
        parallel.Barrier("bare all-reduce");
        var clock = Stopwatch.StartNew();
        parallel.AllReduceSum(gradient, "bare all-reduce");
        bareMs.Add(clock.Elapsed.TotalMilliseconds);
    }
}

static double Median(List<double> xs) => xs.Count == 0 ? 0 : xs.Order().ElementAt(xs.Count / 2);
if (parallel.Rank == 0)
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{{\"ranks\": {parallel.Size}, \"batch\": {batch}, \"params\": {parameters}, \"ms_per_step\": {Median(stepMs):F0}, " +
        $"\"samples_per_s\": {batch / Median(stepMs) * 1000:F2}, \"collective_ms_per_step\": {Median(collectiveMs):F1}, " +
        $"\"bare_allreduce_ms\": {Median(bareMs):F1}, \"steps_ms\": [{string.Join(", ", stepMs.Select(m => m.ToString("F0", CultureInfo.InvariantCulture)))}]}}"));
(parallel as IDisposable)?.Dispose();
return 0;

static IDataParallel StartMpi()
{
    var mpi = MpiDataParallel.Start(MpiLaunch.DefaultCollectiveTimeout);
    mpi.Complete();
    return mpi;
}

// n solid-colour 64x64 images, each captioned with its colour.
static void WriteImages(string dir, int n)
{
    Directory.CreateDirectory(dir);
    var lines = new List<string>();
    var generator = new Generator(1);
    for (int i = 0; i < n; i++)
    {
        using var scope = NewDisposeScope();   // holds the chain's temporaries (src/Core/Engine/Scalars.cs)
        using var rgb = rand(new long[] { 3, 1, 1 }, generator: generator);
        using var image = (rgb * Scalars.Of(2) - Scalars.Of(1)).expand(3, 64, 64).contiguous();
        ImageIO.SavePng(image, Path.Combine(dir, $"{i}.png"));
        float[] c = rgb.data<float>().ToArray();
        lines.Add($"{{\"file_name\": \"{i}.png\", \"text\": \"a colour of red {c[0]:F1} green {c[1]:F1} blue {c[2]:F1}\"}}");
    }
    File.WriteAllLines(Path.Combine(dir, ImageFolderDataset.MetadataFile), lines);
}
