// VAE training throughput of our code for bench/vae_train.sh, which runs the same architecture and step in PyTorch
// (bench/vae_train.py) in one session.
//   latent-bench-vae-train PRESET [threads=2] [steps=20] [warmup=3] [batch=16]
// PRESET is `light` (VaeConfig.Light) or `default` (VaeConfig.Default). Each step is VaeTrainer.TrainStep itself, the
// code path of `latent train vae --disc-weight 0`: the prefetching loader, encode, posterior sample, decode, L1 + KL,
// backward, clipping, AdamW and EMA. Its data is a folder of random 64x64 PNGs written here. Timing as in
// bench/vae_train.py: `warmup` steps, then the median of `steps` timed steps; one JSON line with samples/s.
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Vae;
using Latent.Training.Vae;
using static TorchSharp.torch;

string preset = args.Length > 0 ? args[0] : "light";
int threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
int steps = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20;
int warmup = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3;
int batch = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 16;
VaeConfig model = preset switch
{
    "light" => VaeConfig.Light,
    "default" => VaeConfig.Default,
    _ => throw new ArgumentException($"preset '{preset}' is unknown; expected light or default", nameof(args)),
};
if (steps < 1 || warmup < 0 || batch < 1)
    throw new ArgumentException($"expected steps >= 1, warmup >= 0, batch >= 1; got steps={steps}, warmup={warmup}, batch={batch}", nameof(args));
TorchEngine.Initialize(threads);

string root = Path.Combine(Path.GetTempPath(), $"latent-bench-vae-{Environment.ProcessId}");
try
{
    var data = WriteRandomImages(Path.Combine(root, "data"), 4 * batch, model.SampleSize);
    // The defaults of `latent train vae` (VaeTrainingConfig) with the GAN off, as the issue's run; the steps only set
    // the learning-rate schedule, the small validation set only the constructor's cost.
    var training = new VaeTrainingConfig { Steps = 100_000, BatchSize = batch, DiscriminatorWeight = 0, EvalImages = batch };
    using var trainer = new VaeTrainer(model, training, data, null, Path.Combine(root, "out"));
    long parameters = trainer.Model.parameters().Sum(p => p.numel());
    // Fingerprint of every parameter's key and shape, sorted (ordinal): bench/vae_train.py computes the same.
    var keys = trainer.Model.named_parameters().Select(np => $"{np.name}:{string.Join(",", np.parameter.shape)}").Order(StringComparer.Ordinal);
    string arch = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", keys))))[..16];

    for (int i = 0; i < warmup; i++) trainer.TrainStep();
    var times = new double[steps];
    for (int i = 0; i < steps; i++)
    {
        long start = Stopwatch.GetTimestamp();
        trainer.TrainStep();
        times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
    double median = Median(times);
    Console.WriteLine(
        FormattableString.Invariant($"{{\"impl\": \"ours\", \"preset\": \"{preset}\", \"params\": {parameters}, \"arch\": \"{arch}\", \"batch\": {batch}, ") +
        FormattableString.Invariant($"\"threads\": {threads}, \"steps\": {steps}, \"step_s\": {median:F5}, \"samples_per_s\": {batch / median:F3}}}"));
}
finally
{
    if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
}

// An image folder of `count` uniform-noise RGB PNGs (seed 0), the shape of the emoji data set the real run reads.
static ImageFolderDataset WriteRandomImages(string folder, int count, int size)
{
    Directory.CreateDirectory(folder);
    using var generator = new Generator(0);
    var lines = new List<string>(count);
    for (int i = 0; i < count; i++)
    {
        using var scope = NewDisposeScope();
        var image = rand(new long[] { 3, size, size }, generator: generator).mul(Scalars.Of(2)).sub(Scalars.Of(1)); // [3, H, W] in [-1, 1]
        string name = $"{i:D4}.png";
        ImageIO.SavePng(image, Path.Combine(folder, name));
        lines.Add($"{{\"file_name\": \"{name}\", \"text\": \"noise\"}}");
    }
    File.WriteAllLines(Path.Combine(folder, ImageFolderDataset.MetadataFile), lines);
    return ImageFolderDataset.Read(folder);
}

static double Median(double[] values)
{
    var sorted = values.Order().ToArray();
    int n = sorted.Length;
    return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}
