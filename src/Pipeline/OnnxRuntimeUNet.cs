using Latent.Core.Onnx;
using Latent.UNetCrossAttn;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// A U-Net run by ONNX Runtime (CPU) from its in-memory ONNX export (<see cref="UNet2DConditionModel.ExportOnnx"/>):
/// the same function as <see cref="UNet2DConditionModel.forward"/> in float32, with far less overhead per op.
/// </summary>
/// <remarks>
/// <para>Why: at the emoji model's size one U-Net call is ~1,000 small ops, and LibTorch (through TorchSharp) spends about
/// half of the call between them; ONNX Runtime plans the graph once (fusing Gelu, MatMul + scale, Conv + activation,
/// and choosing blocked convolution layouts), which measured about 1.5x faster per call here (docs/PERFORMANCE.md).</para>
/// <para>Memory: the session holds its own float32 copy of the weights beside the LibTorch module, and building it
/// briefly needs about one more (the serialized model); 90 MB each for the emoji U-Net.</para>
/// <para>Inputs and outputs are copied between TorchSharp and ONNX Runtime; at latent sizes that is a few hundred KB per
/// step. The session uses as many intra-op threads as the engine (<c>torch.get_num_threads()</c>).</para>
/// </remarks>
public sealed class OnnxRuntimeUNet : IDisposable
{
    static readonly string[] InputNames = ["sample", "timestep", "encoder_hidden_states"];
    static readonly string[] OutputNames = ["out_sample"];

    readonly UNet2DConditionModel unet;
    readonly InferenceSession session;
    readonly RunOptions runOptions;

    /// <summary>Exports <paramref name="unet"/> and opens an ONNX Runtime session on it (about a second for the emoji model).</summary>
    /// <param name="unet">The U-Net; its weights are copied into the session (it is kept only to check inputs).</param>
    /// <exception cref="NotSupportedException">The U-Net cannot be exported: over 2 GiB of float32 weights (<see cref="Fits"/>) or
    /// an option the export does not cover (see <see cref="UNet2DConditionModel.ExportOnnx"/>).</exception>
    public OnnxRuntimeUNet(UNet2DConditionModel unet)
    {
        ArgumentNullException.ThrowIfNull(unet);
        if (!Fits(unet))
            throw new NotSupportedException(
                $"the U-Net has {FloatBytes(unet) / (1 << 20)} MiB of float32 weights; one ONNX file holds at most 2 GiB; run it with LibTorch");
        this.unet = unet;
        byte[] model;
        using (no_grad()) model = unet.ExportOnnx();
        CreateQuietEnvironment();
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = Math.Max(1, get_num_threads()),
            InterOpNumThreads = 1,
            LogSeverityLevel = QuietLogLevel,
        };
        // The intra-op threads spin between ops (ONNX Runtime's default): a batch-2 call of the emoji architecture took 30 ms
        // with spinning and 37 ms without (2 threads, PyTorch's export of it), and between calls only a few small LibTorch ops run.
        session = new InferenceSession(model, options);
        runOptions = new RunOptions();
    }

    // ONNX Runtime logs warnings, and each error that it also returns, as coloured lines on stderr (its default level is
    // Warning); users of `latent` and of this library should see only our output. Nothing is lost: every error still
    // arrives as an OnnxRuntimeException whose message is the status that would have been logged.
    const OrtLoggingLevel QuietLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;

    /// <summary>Creates ONNX Runtime's process-wide environment at <see cref="QuietLogLevel"/> (it logs outside any session)
    /// unless it exists already: an app that created its own keeps its level.</summary>
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

    /// <summary>Whether <paramref name="unet"/>'s float32 weights fit one ONNX file (protobuf's 2 GiB, with room for the graph).</summary>
    /// <param name="unet">The U-Net.</param>
    /// <returns>True when it can be exported.</returns>
    public static bool Fits(UNet2DConditionModel unet) => FloatBytes(unet) < OnnxGraph.MaxModelBytes - (64L << 20);

    /// <summary>Bytes of the U-Net's weights in float32, as the ONNX export stores them.</summary>
    internal static long FloatBytes(UNet2DConditionModel unet) => unet.parameters().Sum(p => p.numel()) * sizeof(float);

    /// <summary>Runs the U-Net.</summary>
    /// <param name="sample">[B, C, H, W] (any float dtype; computed in float32).</param>
    /// <param name="timestep">[] or [1] or [B], integer or float.</param>
    /// <param name="encoderHiddenStates">[B, T, D].</param>
    /// <returns>[B, Cout, H, W] float32, on the CPU.</returns>
    /// <exception cref="ArgumentException">A shape is wrong (the same checks and messages as the U-Net's forward).</exception>
    public Tensor Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates)
    {
        // sample: [B, C, H, W], timestep: [] / [1] / [B], encoderHiddenStates: [B, T, D] -> [B, Cout, H, W]
        unet.CheckInputs(sample, timestep, encoderHiddenStates);
        long b = sample.shape[0];
        using var scope = NewDisposeScope();
        using var x = ToOrt(sample);
        using var t = ToOrt(timestep.reshape(-1).expand(b));
        using var c = ToOrt(encoderHiddenStates);
        using var outputs = session.Run(runOptions, InputNames, [x, t, c], OutputNames);
        var output = outputs[0];
        long[] shape = output.GetTensorTypeAndShape().Shape;
        return tensor(output.GetTensorDataAsSpan<float>().ToArray(), shape).MoveToOuterDisposeScope();
    }

    /// <summary>Releases the session.</summary>
    public void Dispose()
    {
        session.Dispose();
        runOptions.Dispose();
    }

    static OrtValue ToOrt(Tensor t)
    {
        using var f = t.detach().to(ScalarType.Float32).cpu().contiguous();
        return OrtValue.CreateTensorValueFromMemory(f.data<float>().ToArray(), f.shape);
    }
}
