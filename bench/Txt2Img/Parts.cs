// Per-part speed for bench/parts.sh: one text-encoder call, one guided U-Net step and one VAE decode of a pipeline
// folder, on each engine, with their FLOPs (ModelFlops) and achieved GFLOPS next to the engine's measured peak (the
// probes of `latent doctor`): how far each part is from what this CPU's matrix kernels can do.
using System.Diagnostics;
using System.Globalization;
using Latent.Core.Engine;
using Latent.Pipeline;
using Latent.Pipeline.Performance;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Bench.Txt2Img;

/// <summary>latent-bench-txt2img --parts CALLS: the per-part table and one summary line.</summary>
public static class PartsBench
{
    /// <summary>Measures every part on every engine and prints the table.</summary>
    /// <param name="model">A pipeline folder.</param>
    /// <param name="threads">Engine threads (for the header).</param>
    /// <param name="calls">Timed calls per row (median), after two warm-ups.</param>
    public static void Run(string model, int threads, int calls)
    {
        // Peaks: the probes of `latent doctor` (conv2d 3x3 and a 1024 matmul), the best of the two per dtype.
        double peak32 = Math.Max(Throughput.Conv2d(ScalarType.Float32).Gflops, Throughput.Matmul(ScalarType.Float32).Gflops);
        bool bf16 = BFloat16Check.Engine.Accurate;
        double peak16 = bf16 ? Math.Max(Throughput.Conv2d(ScalarType.BFloat16).Gflops, Throughput.Matmul(ScalarType.BFloat16).Gflops) : double.NaN;

        using var text = ClipTextModel.FromPretrained(Path.Combine(model, "text_encoder"));
        using var unet = UNet2DConditionModel.FromPretrained(Path.Combine(model, "unet"));
        using var vae = AutoencoderKL.FromPretrained(Path.Combine(model, "vae"));
        foreach (nn.Module m in new nn.Module[] { text, unet, vae }) m.eval();
        long side = unet.Config.SampleSize ?? 16, tokens = text.Config.MaxPositionEmbeddings;
        int width = text.Config.HiddenSize;
        using var scope = NewDisposeScope();
        using var generator = new Generator(0);
        var ids = randint(text.Config.VocabSize, [1, tokens], generator: generator);
        var sample = randn([2, unet.Config.InChannels, side, side], generator: generator);
        var states = randn([2, tokens, width], generator: generator);
        var t = tensor(500L);
        var z = randn([1, vae.Config.LatentChannels, side, side], generator: generator);

        double textFlops = ModelFlops.TextEncoder(text.Config, 1, tokens).Flops;
        double stepFlops = ModelFlops.UNet(unet.Config, 2, side, side, tokens).Flops;
        double cachedStepFlops = ModelFlops.UNet(unet.Config, 2, side, side, tokens, textKeyValues: false).Flops;
        double vaeFlops = ModelFlops.VaeDecoder(vae.Config, 1, side, side).Flops;
        var rows = new List<(string Part, string Engine, double Flops, double Ms, double Peak)>();
        void Row(string part, string engine, double flops, double peak, Action call) => rows.Add((part, engine, flops, CallTiming.MedianMs(call, calls), peak));

        using (no_grad())
        {
            Row("text encoder [1, 77]", "LibTorch fp32", textFlops, peak32, () => text.forward(ids).Dispose());
            using (var ort = new OnnxRuntimeTextEncoder(text)) Row("text encoder [1, 77]", "ONNX Runtime fp32", textFlops, peak32, () => ort.Forward(ids).Dispose());

            Row("U-Net guided step [2, 4, 16, 16]", "LibTorch fp32, no attention cache", stepFlops, peak32, () => unet.forward(sample, t, states).Dispose());
            using (var cache = unet.PrepareAttention(states))
                Row("U-Net guided step [2, 4, 16, 16]", "LibTorch fp32, attention cache", cachedStepFlops, peak32, () => unet.Forward(sample, t, states, cache).Dispose());
            using (var ort = new OnnxRuntimeUNet(unet))
            using (var kv = ort.PrepareText(states))
                Row("U-Net guided step [2, 4, 16, 16]", "ONNX Runtime fp32, text keys/values", cachedStepFlops, peak32, () => ort.Forward(sample, t, kv).Dispose());
            if (bf16)
            {
                using var half = UNet2DConditionModel.FromPretrained(Path.Combine(model, "unet"));
                half.eval();
                half.to(ScalarType.BFloat16);
                var s16 = sample.to(ScalarType.BFloat16);
                var c16 = states.to(ScalarType.BFloat16);
                using var cache = half.PrepareAttention(c16);
                Row("U-Net guided step [2, 4, 16, 16]", "LibTorch bf16, attention cache", cachedStepFlops, peak16, () => half.Forward(s16, t, c16, cache).Dispose());
            }

            Row("VAE decode [1, 4, 16, 16]", "LibTorch fp32", vaeFlops, peak32, () => vae.Decode(z).Dispose());
            using (var ort = new OnnxRuntimeVae(vae)) Row("VAE decode [1, 4, 16, 16]", "ONNX Runtime fp32", vaeFlops, peak32, () => ort.Decode(z).Dispose());
        }

        string F(double v, string f) => v.ToString(f, CultureInfo.InvariantCulture);
        Console.WriteLine($"per-part speed of {model}, {threads} threads, median of {calls} calls after 2 warm-ups; FLOPs from ModelFlops " +
                          "(2 per multiply-add of convs, linear layers and attention products); peak = the best of latent doctor's conv2d/matmul probes " +
                          $"(fp32 {F(peak32, "F1")} GFLOPS, bf16 {(bf16 ? F(peak16, "F1") : "refused: inaccurate here")})\n");
        Console.WriteLine("| part | engine | GFLOP per call | ms (median) | GFLOPS | % of the dtype's peak |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            double gflops = r.Flops / (r.Ms * 1e6);
            Console.WriteLine($"| {r.Part} | {r.Engine} | {F(r.Flops / 1e9, "F3")} | {F(r.Ms, "F2")} | {F(gflops, "F1")} | {F(100 * gflops / r.Peak, "F0")}% |");
        }
        var best = rows.GroupBy(r => r.Part).Select(g => g.MinBy(r => r.Ms)).ToList();
        Console.WriteLine("\nparts summary: " + string.Join("; ", best.Select(r =>
            $"{r.Part.Split(' ')[0]} {r.Part.Split(' ')[1]} {F(r.Ms, "F2")} ms ({r.Engine}, {F(r.Flops / (r.Ms * 1e6), "F1")} GFLOPS = {F(100 * r.Flops / (r.Ms * 1e6) / r.Peak, "F0")}% of peak)")));
    }
}
