using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Latent.Core.IO;
using Latent.UNetCrossAttn;
using static TorchSharp.torch;

namespace Latent.Pipeline.Ort;

/// <summary>What <see cref="RuntimeProbe"/> measured and chose for one machine and model.</summary>
/// <param name="Runtime">The faster engine for the U-Net in float32.</param>
/// <param name="LibTorchMs">Median ms of one guided U-Net call (batch 2) on LibTorch with the attention cache.</param>
/// <param name="OnnxRuntimeMs">The same on ONNX Runtime.</param>
/// <param name="FromCache">Whether the decision was read from the cache rather than measured now.</param>
public sealed record RuntimeDecision(UNetRuntime Runtime, double LibTorchMs, double OnnxRuntimeMs, bool FromCache);

/// <summary>
/// Decides <see cref="UNetRuntime.Auto"/> for a float32 U-Net by measuring: one guided U-Net call (batch 2, the model's
/// default latent size, 77 text tokens) on LibTorch and on ONNX Runtime, median of three after a warm-up; the faster
/// wins. The decision is stored per machine and model (a SHA-256 of this CPU, the thread count, ONNX Runtime's version
/// and the U-Net's weights) as a small JSON file in the cache folder, so only the first run on a machine pays for it
/// (about eight U-Net calls).
/// </summary>
/// <remarks>
/// Why measured: which engine is faster depends on the CPU (issue 23: ONNX Runtime won 1.5-1.8x on our AMD EPYC VMs, and
/// LibTorch's bf16 kernels won on another EPYC with <c>avx512_vp2intersect</c>), not on a rule we can write down. Only
/// float32 engines are compared: bf16 changes the images, so it stays the user's choice (<c>--dtype bf16</c>, refused
/// where <see cref="Latent.Core.Engine.BFloat16Check"/> finds this CPU's bf16 kernels inaccurate).
/// </remarks>
public static class RuntimeProbe
{
    const string FormatVersion = "latent-runtime-probe-1";

    /// <summary>The file that holds the decision for this machine and a U-Net's weights.</summary>
    /// <param name="cacheDirectory">The ONNX cache folder (decisions go to its <c>runtime/</c> sibling).</param>
    /// <param name="weightsHash">The U-Net's <see cref="OnnxModelCache.WeightsHash"/>.</param>
    /// <returns>The path of the JSON file.</returns>
    public static string DecisionPath(string cacheDirectory, string weightsHash)
    {
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", FormatVersion,
            weightsHash, OnnxModelCache.CpuIdentity.Value, OrtSessions.Version, get_num_threads().ToString(CultureInfo.InvariantCulture)))));
        return Path.Combine(Path.GetDirectoryName(Path.GetFullPath(cacheDirectory))!, "runtime", $"{key}.json");
    }

    /// <summary>The stored decision, or null when there is none (or it cannot be read).</summary>
    /// <param name="path">From <see cref="DecisionPath"/>.</param>
    public static RuntimeDecision? Read(string path)
    {
        try
        {
            if (!File.Exists(path)) return null;
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            if (!Enum.TryParse(root.GetProperty("runtime").GetString(), out UNetRuntime runtime) || runtime == UNetRuntime.Auto) return null;
            return new RuntimeDecision(runtime, root.GetProperty("libtorch_ms").GetDouble(), root.GetProperty("onnxruntime_ms").GetDouble(), FromCache: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;   // unreadable: measure again and overwrite it
        }
    }

    /// <summary>Measures both engines on <paramref name="unet"/>, decides, and stores the decision at <paramref name="path"/> (atomically).</summary>
    /// <param name="unet">The float32 U-Net (left as it was).</param>
    /// <param name="onnx">The same U-Net on ONNX Runtime.</param>
    /// <param name="path">From <see cref="DecisionPath"/>.</param>
    /// <returns>The decision.</returns>
    public static RuntimeDecision MeasureAndStore(UNet2DConditionModel unet, OnnxRuntimeUNet onnx, string path)
    {
        ArgumentNullException.ThrowIfNull(unet);
        ArgumentNullException.ThrowIfNull(onnx);
        var (libtorch, onnxruntime) = Measure(unet, onnx);
        var decision = new RuntimeDecision(onnxruntime <= libtorch ? UNetRuntime.OnnxRuntime : UNetRuntime.LibTorch, libtorch, onnxruntime, FromCache: false);
        try
        {
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["runtime"] = decision.Runtime.ToString(),
                ["libtorch_ms"] = Math.Round(libtorch, 3),
                ["onnxruntime_ms"] = Math.Round(onnxruntime, 3),
                ["threads"] = get_num_threads(),
                ["measured_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            }));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only cache folder: decide again next time.
        }
        return decision;
    }

    /// <summary>Median milliseconds of one guided call on each engine: (LibTorch, ONNX Runtime).</summary>
    internal static (double LibTorch, double OnnxRuntime) Measure(UNet2DConditionModel unet, OnnxRuntimeUNet onnx)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(0);
        int width = unet.Config.CrossAttentionDim.PerBlock(unet.Config.BlockOutChannels.Length)[0];
        long side = unet.Config.SampleSize ?? 16;
        side = (side + unet.SizeMultiple - 1) / unet.SizeMultiple * unet.SizeMultiple;
        var sample = randn([2, unet.Config.InChannels, side, side], generator: generator);
        var states = randn([2, 77, width], generator: generator);
        var t = tensor(500L);
        using var mode = new InferenceMode(unet);
        using var attention = unet.PrepareAttention(states);
        using var text = onnx.PrepareText(states);
        double libtorch = MedianMs(() => unet.Forward(sample, t, states, attention).Dispose());
        double onnxruntime = MedianMs(() => onnx.Forward(sample, t, text).Dispose());
        return (libtorch, onnxruntime);
    }

    static double MedianMs(Action call)
    {
        call();
        var times = new double[3];
        for (int i = 0; i < times.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            using (NewDisposeScope()) call();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[1];
    }
}
