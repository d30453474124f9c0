using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Latent.Pipeline.Ort;

/// <summary>
/// How we open ONNX Runtime sessions (CPU, the engine's thread count, the highest graph optimisation level, quiet
/// logging) and move tensors between TorchSharp and ONNX Runtime.
/// </summary>
public static class OrtSessions
{
    // ONNX Runtime logs warnings, and each error that it also returns, as coloured lines on stderr (its default level is
    // Warning); users of `latent` and of this library should see only our output. Nothing is lost: every error still
    // arrives as an OnnxRuntimeException whose message is the status that would have been logged.
    const OrtLoggingLevel QuietLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;

    /// <summary>The ONNX Runtime version the sessions run on (part of the on-disk cache's key).</summary>
    public static string Version => OrtEnv.Instance().GetVersionString();

    /// <summary>Session options: level "all" (NCHWc blocked convolutions, Gelu and MatMul fusions), sequential, the engine's threads.</summary>
    /// <param name="optimize">False for a model that was optimised already (loaded from <see cref="OnnxModelCache"/>): no second pass.</param>
    /// <returns>The options; the caller disposes them.</returns>
    public static SessionOptions Options(bool optimize = true)
    {
        CreateQuietEnvironment();
        // The intra-op threads spin between ops (ONNX Runtime's default): a batch-2 call of the emoji U-Net took 30 ms
        // with spinning and 37 ms without (2 threads), and between calls only a few small LibTorch ops run.
        return new SessionOptions
        {
            GraphOptimizationLevel = optimize ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = Math.Max(1, get_num_threads()),
            InterOpNumThreads = 1,
            LogSeverityLevel = QuietLogLevel,
        };
    }

    /// <summary>Creates ONNX Runtime's process-wide environment at a quiet level (it logs outside any session) unless it
    /// exists already: an app that created its own keeps its level.</summary>
    static void CreateQuietEnvironment()
    {
        if (OrtEnv.IsCreated) return;
        var env = new EnvironmentCreationOptions { logId = "latent", logLevel = QuietLogLevel };
        try
        {
            OrtEnv.CreateInstanceWithOptions(ref env);
        }
        catch (OnnxRuntimeException) when (OrtEnv.IsCreated)
        {
            // Another thread created it between the check and here.
        }
    }

    /// <summary>A float32 copy of <paramref name="t"/> (any float dtype, any device) as an ONNX Runtime value.</summary>
    public static OrtValue Float(Tensor t)
    {
        using var scope = NewDisposeScope();   // callers may hold no scope; the chain's temporaries need one (Engine/Scalars.cs)
        var f = t.detach().to(ScalarType.Float32).cpu().contiguous();
        return OrtValue.CreateTensorValueFromMemory(f.data<float>().ToArray(), f.shape);
    }

    /// <summary>An int64 copy of <paramref name="t"/> as an ONNX Runtime value (token ids).</summary>
    public static OrtValue Int64(Tensor t)
    {
        using var scope = NewDisposeScope();
        var l = t.detach().to(ScalarType.Int64).cpu().contiguous();
        return OrtValue.CreateTensorValueFromMemory(l.data<long>().ToArray(), l.shape);
    }

    /// <summary>A float32 ONNX Runtime value copied into a new CPU tensor.</summary>
    public static Tensor ToTensor(OrtValue value) =>
        tensor(value.GetTensorDataAsSpan<float>().ToArray(), value.GetTensorTypeAndShape().Shape);
}
