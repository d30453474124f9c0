// U-Net training-step throughput of TorchSharp for bench/unet_train.sh, which runs the same model in PyTorch
// (bench/unet_train.py) alternately. Same method on both sides: one warm-up step, then the median of N timed steps of
// zero_grad + forward + mean-square loss + backward (no optimizer) on random [B, 4, 16, 16] latents, [B] timesteps and
// [B, 77, 256] context, fp32, training mode. With precision bf16: the same step with bf16 compute on fp32 master
// weights (Latent.Core.Training.BFloat16Compute: weights rounded into the bf16 copy, its gradients back to fp32).
//   latent-bench-unet-train [threads] [batches=16,32] [iterations=5] [precision=fp32|bf16]
using System.Diagnostics;
using System.Globalization;
using Latent.Core.Engine;
using Latent.Core.Training;
using Latent.UNetCrossAttn;
using static TorchSharp.torch;

int threads = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
int[] batches = (args.Length > 1 ? args[1] : "16,32").Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();
int iterations = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
string precision = args.Length > 3 ? args[3] : "fp32";
if (precision is not ("fp32" or "bf16")) throw new ArgumentException($"precision is '{precision}'; expected fp32 or bf16");
TorchEngine.Initialize(threads);
manual_seed(0);

using var model = new UNet2DConditionModel(UNetConfig.Default);
model.train();
using var bf16 = precision == "bf16" ? new BFloat16Compute<UNet2DConditionModel>(model, new UNet2DConditionModel(UNetConfig.Default)) : null;
long parameters = model.parameters().Sum(p => p.numel());
Console.Error.WriteLine($"# torchsharp: {parameters} parameters ({parameters / 1e6:F2} M), {threads} threads");

foreach (int b in batches)
{
    using var x = randn(b, 4, 16, 16);                                // [B, 4, 16, 16]
    using var t = randint(0, 1000, new long[] { b }, dtype: ScalarType.Int64);   // [B]
    using var context = randn(b, 77, 256);                            // [B, T, D]
    void Step()
    {
        using var scope = NewDisposeScope();
        model.zero_grad();
        if (bf16 is null) model.forward(x, t, context).pow(Scalars.Of(2)).mean().backward();
        else
        {
            bf16.Forward(model, m => m.forward(BFloat16Compute.In(x), t, BFloat16Compute.In(context)))
                .pow(Scalars.Of(2)).mean().backward();
            bf16.GradientsToMasters();
        }
    }
    Step();   // warm-up
    var times = new List<double>();
    for (int i = 0; i < iterations; i++)
    {
        var clock = Stopwatch.StartNew();
        Step();
        times.Add(clock.Elapsed.TotalMilliseconds);
    }
    double ms = times.Order().ElementAt(times.Count / 2);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{{\"impl\": \"torchsharp{(precision == "bf16" ? "-bf16" : "")}\", \"batch\": {b}, \"params\": {parameters}, \"ms_per_step\": {ms:F2}, \"samples_per_s\": {b / ms * 1000:F2}}}"));
}
