// ONNX Runtime's reduced-precision paths for bench/onnx_precision.sh (issue 23 item 3):
// 1. The U-Net with int8 linear layers (OnnxLinearWeights.DynamicInt8) against float32, one guided call [2, 4, H, W]
//    with the text keys/values prepared, the two alternated in every round (the order flips each round), and the
//    relative error of the int8 noise prediction.
// 2. Whether ONNX Runtime's CPU execution provider runs a float16 or bfloat16 Conv and MatMul at all, and how fast: one
//    3x3 Conv and one linear-layer MatMul of the U-Net's widest level written by our writer in float32, float16 and
//    bfloat16; a session that cannot be built prints ONNX Runtime's message.
using System.Diagnostics;
using System.Globalization;
using Latent.Core.Onnx;
using Latent.Pipeline;
using Latent.UNetCrossAttn;
using Latent.Core.Engine;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using static TorchSharp.torch;

namespace Latent.Bench.Txt2Img;

/// <summary>latent-bench-txt2img --onnx-precision ROUNDS: int8 against float32 U-Net calls, and the fp16/bf16 trial.</summary>
public static class OnnxPrecisionBench
{
    /// <summary>Runs both parts and prints their tables and one summary line.</summary>
    /// <param name="model">A pipeline folder.</param>
    /// <param name="threads">Engine threads (for the header).</param>
    /// <param name="rounds">Alternated rounds.</param>
    /// <param name="calls">Timed calls per engine and round (median), after two warm-ups.</param>
    public static void Run(string model, int threads, int rounds, int calls)
    {
        string F(double v, string f = "F2") => v.ToString(f, CultureInfo.InvariantCulture);
        using var unet = UNet2DConditionModel.FromPretrained(Path.Combine(model, "unet"));
        unet.eval();
        long side = unet.Config.SampleSize ?? 16;
        int width = unet.Config.CrossAttentionDim.PerBlock(unet.Config.BlockOutChannels.Length)[0];
        using var scope = NewDisposeScope();
        using var generator = new Generator(0);
        var sample = randn([2, unet.Config.InChannels, side, side], generator: generator);
        var states = randn([2, 77, width], generator: generator);
        var t = tensor(500L);

        var engines = new (string Name, OnnxRuntimeUNet Unet, OnnxRuntimeUNet.TextKeyValues Text)[2];
        long start = Stopwatch.GetTimestamp();
        var fp32 = new OnnxRuntimeUNet(unet);
        double fp32Build = Stopwatch.GetElapsedTime(start).TotalSeconds;
        start = Stopwatch.GetTimestamp();
        var int8 = new OnnxRuntimeUNet(unet, linearWeights: OnnxLinearWeights.DynamicInt8);
        double int8Build = Stopwatch.GetElapsedTime(start).TotalSeconds;
        engines[0] = ("ONNX Runtime fp32", fp32, fp32.PrepareText(states));
        engines[1] = ("ONNX Runtime int8 linear (DynamicQuantizeMatMul)", int8, int8.PrepareText(states));
        double error;
        using (NewDisposeScope())
        {
            var a = fp32.Forward(sample, t, engines[0].Text);
            var b = int8.Forward(sample, t, engines[1].Text);
            error = (b - a).norm().item<float>() / (double)a.norm().item<float>();
        }

        // Wall ms (median per round) and this process's CPU ms per call (mean per round): on a machine shared with other
        // jobs the wall time mostly measures the others; CPU time is steadier (it still counts ONNX Runtime's spinning).
        var ms = new List<double>[] { [], [] };
        var cpuMs = new List<double>[] { [], [] };
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        for (int r = 0; r < rounds; r++)
            foreach (int e in r % 2 == 0 ? new[] { 0, 1 } : new[] { 1, 0 })
            {
                var (_, engine, text) = engines[e];
                self.Refresh();
                TimeSpan cpu0 = self.TotalProcessorTime;
                ms[e].Add(CallTiming.MedianMs(() => engine.Forward(sample, t, text).Dispose(), calls));
                self.Refresh();
                cpuMs[e].Add((self.TotalProcessorTime - cpu0).TotalMilliseconds / (calls + 2));
            }
        Console.WriteLine($"U-Net of {model}: one guided call [2, {unet.Config.InChannels}, {side}, {side}], 77 tokens, text keys/values prepared; " +
                          $"{threads} threads; median of {calls} calls after 2 warm-ups per round, {rounds} rounds alternated (order flipped each round)\n");
        Console.WriteLine("| engine | wall ms per call, each round | median | CPU ms per call, each round | median | session build s (export + optimisation) |");
        Console.WriteLine("|---|---|---:|---|---:|---:|");
        for (int e = 0; e < 2; e++)
            Console.WriteLine($"| {engines[e].Name} | {string.Join(", ", ms[e].Select(v => F(v)))} | {F(CallTiming.Median(ms[e]))} | " +
                              $"{string.Join(", ", cpuMs[e].Select(v => F(v, "F1")))} | {F(CallTiming.Median(cpuMs[e]), "F1")} | {F(e == 0 ? fp32Build : int8Build)} |");
        Console.WriteLine($"\nrelative error of the int8 noise prediction against fp32 (||d|| / ||fp32||, t = 500): {error:P2}");
        foreach (var (_, engine, text) in engines) { text.Dispose(); engine.Dispose(); }

        // 2. fp16 / bf16 trial on one Conv and one MatMul of the widest level.
        long c = unet.Config.BlockOutChannels.Max();
        long hw = side;   // the widest channels at the latent's full side: large enough that the kernels, not per-op overhead, decide
        Console.WriteLine($"\nONNX Runtime {OrtEnv.Instance().GetVersionString()} CPU: Conv 3x3 [2, {c}, {hw}, {hw}] -> {c} and MatMul [2, {hw * hw}, {c}] x [{c}, {4 * c}], " +
                          $"median of {calls * 10} calls after 2 warm-ups, rounds alternated\n");
        Console.WriteLine("| op | element type | ms per call (each round) or why the session failed | Cast nodes ONNX Runtime inserted |");
        Console.WriteLine("|---|---|---|---:|");
        var summary = new List<string>();
        foreach (string op in new[] { "Conv", "MatMul" })
        {
            var results = new Dictionary<string, List<double>>();
            var casts = new Dictionary<string, int>();
            var failures = new Dictionary<string, string>();
            for (int r = 0; r < Math.Max(1, rounds); r++)
                foreach (var (name, type, dtype) in new[] { ("float32", OnnxGraph.Float, ScalarType.Float32), ("float16", OnnxGraph.Float16, ScalarType.Float16), ("bfloat16", OnnxGraph.BFloat16, ScalarType.BFloat16) })
                {
                    if (failures.ContainsKey(name)) continue;
                    try
                    {
                        (double v, casts[name]) = TimeSmallGraph(op, type, dtype, c, hw, calls * 10);
                        (results.TryGetValue(name, out var list) ? list : results[name] = []).Add(v);
                    }
                    catch (OnnxRuntimeException e)
                    {
                        failures[name] = e.Message.ReplaceLineEndings(" ");
                    }
                }
            foreach (string name in new[] { "float32", "float16", "bfloat16" })
            {
                string cell = failures.TryGetValue(name, out string? why) ? $"session failed: {why}" : string.Join(", ", results[name].Select(v => F(v, "F3")));
                Console.WriteLine($"| {op} | {name} | {cell} | {(casts.TryGetValue(name, out int n) ? n : "")} |");
                summary.Add($"{op} {name} {(failures.ContainsKey(name) ? "fails" : F(CallTiming.Median(results[name]), "F3") + " ms")}");
            }
        }
        Console.WriteLine($"\nonnx precision summary: U-Net call fp32 {F(CallTiming.Median(ms[0]))} ms, int8 {F(CallTiming.Median(ms[1]))} ms " +
                          $"({F(CallTiming.Median(ms[0]) / CallTiming.Median(ms[1]))}x wall, {F(CallTiming.Median(cpuMs[0]) / CallTiming.Median(cpuMs[1]))}x CPU time), int8 error {error:P2}; {string.Join("; ", summary)}");
    }

    // One op in one element type: input x and weight in that type, output in that type. Returns the median ms and the
    // number of Cast nodes in ONNX Runtime's optimised graph (it wraps an op that has no kernel for the type in Casts to
    // float32, so a type can "run" at float32's speed plus the casts).
    static (double Ms, int Casts) TimeSmallGraph(string op, int type, ScalarType dtype, long c, long hw, int calls)
    {
        var g = new OnnxGraph($"{op}_{type}");
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        string y;
        Tensor x;
        if (op == "Conv")
        {
            string input = g.TypedInput("x", type, 2L, c, hw, hw);
            var w = randn([c, c, 3, 3], generator: generator).mul(Scalars.Of(0.05)).to(dtype).contiguous();
            string wName = g.RawWeight("w", type, w.shape, w.bytes.ToArray());
            y = g.Node("Conv", [input, wName], OnnxAttribute.Ints("kernel_shape", 3, 3), OnnxAttribute.Ints("pads", 1, 1, 1, 1));
            g.TypedOutput(y, "y", type, 2L, c, hw, hw);
            x = randn([2, c, hw, hw], generator: generator).to(dtype).contiguous();
        }
        else
        {
            string input = g.TypedInput("x", type, 2L, hw * hw, c);
            var w = randn([c, 4 * c], generator: generator).mul(Scalars.Of(0.05)).to(dtype).contiguous();
            y = g.Node("MatMul", [input, g.RawWeight("w", type, w.shape, w.bytes.ToArray())]);
            g.TypedOutput(y, "y", type, 2L, hw * hw, 4 * c);
            x = randn([2, hw * hw, c], generator: generator).to(dtype).contiguous();
        }
        using var options = Latent.Pipeline.Ort.OrtSessions.Options();
        string optimised = Path.Combine(Path.GetTempPath(), $"latent-precision-{Environment.ProcessId}-{Guid.NewGuid():N}.onnx");
        options.OptimizedModelFilePath = optimised;
        using var session = new InferenceSession(g.ToModel(), options);
        // NodeProto.op_type (field 4, length-delimited: tag 0x22) "Cast".
        byte[] model = File.ReadAllBytes(optimised);
        File.Delete(optimised);
        int castNodes = model.AsSpan().Count(new byte[] { 0x22, 0x04, (byte)'C', (byte)'a', (byte)'s', (byte)'t' });
        var elementType = type switch { OnnxGraph.Float => TensorElementType.Float, OnnxGraph.Float16 => TensorElementType.Float16, _ => TensorElementType.BFloat16 };
        using var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, elementType, x.shape);
        x.bytes.CopyTo(value.GetTensorMutableRawData());
        using var runOptions = new RunOptions();
        return (CallTiming.MedianMs(() => { using var outputs = session.Run(runOptions, ["x"], [value], ["y"]); }, calls), castNodes);
    }
}
