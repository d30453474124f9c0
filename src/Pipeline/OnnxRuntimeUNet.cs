using Latent.Core.Onnx;
using Latent.Pipeline.Ort;
using Latent.UNetCrossAttn;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// A U-Net run by ONNX Runtime (CPU) from its ONNX export (<see cref="UNet2DConditionModel.ExportOnnx"/>): the same
/// function as <see cref="UNet2DConditionModel.forward"/> in float32, with far less overhead per op.
/// </summary>
/// <remarks>
/// <para>Why: at the emoji model's size one U-Net call is ~1,000 small ops, and LibTorch (through TorchSharp) spends about
/// half of the call between them; ONNX Runtime plans the graph once (fusing Gelu, MatMul + scale, Conv + activation,
/// and choosing blocked convolution layouts), which measured about 1.5x faster per call here (docs/PERFORMANCE.md).</para>
/// <para>Two sessions: the U-Net, which takes each cross-attention's keys and values as inputs, and a small graph that
/// computes them from the text states once per generation (<see cref="PrepareText"/>); a denoising loop reuses them at
/// every step instead of projecting the same text again.</para>
/// <para>Memory: the sessions hold their own float32 copy of the weights. With an <see cref="OnnxModelCache"/> the
/// optimised models are read from disk when the weights were seen before (no export, no graph optimisation).</para>
/// <para>Inputs and outputs are copied between TorchSharp and ONNX Runtime; at latent sizes that is a few hundred KB per
/// step. The sessions use as many intra-op threads as the engine (<c>torch.get_num_threads()</c>).</para>
/// </remarks>
public sealed class OnnxRuntimeUNet : IDisposable
{
    readonly UNetConfig config;
    readonly InferenceSession session;
    readonly InferenceSession textSession;
    readonly string[] keyValueNames;
    readonly RunOptions runOptions = new();

    /// <summary>Exports <paramref name="unet"/> (or reads its optimised form from <paramref name="cache"/>) and opens the sessions.</summary>
    /// <param name="unet">The U-Net; its weights are copied into the sessions (only its config is kept).</param>
    /// <param name="cache">Where optimised models are kept between runs; null exports and optimises every time.</param>
    /// <param name="weightsHash">The U-Net's <see cref="OnnxModelCache.WeightsHash"/> when the caller has it (else computed when a cache is used).</param>
    /// <param name="linearWeights">The linear layers' form in the U-Net graph: float32 (the default) or
    /// <see cref="OnnxLinearWeights.DynamicInt8"/> (int8 weights, activations quantised per call: approximate). The text
    /// keys/values graph, run once per generation, stays float32 either way.</param>
    /// <exception cref="NotSupportedException">The U-Net cannot be exported: over 2 GiB of float32 weights (<see cref="Fits(UNet2DConditionModel)"/>) or
    /// an option the export does not cover (see <see cref="UNet2DConditionModel.ExportOnnx"/>).</exception>
    /// <exception cref="ArgumentException"><paramref name="linearWeights"/> is not a defined value.</exception>
    public OnnxRuntimeUNet(UNet2DConditionModel unet, OnnxModelCache? cache = null, string? weightsHash = null,
        OnnxLinearWeights linearWeights = OnnxLinearWeights.Float32)
        : this(Checked(unet).Config, () => unet, cache, weightsHash, linearWeights) { }

    /// <summary>
    /// Opens the sessions of a U-Net known by its config and weights hash: from <paramref name="cache"/> when it holds
    /// them, without calling <paramref name="module"/> (a warm start builds no LibTorch U-Net); else exported from
    /// <paramref name="module"/>, whose float32 weights the caller has checked to fit (<see cref="Fits(long)"/>).
    /// </summary>
    internal OnnxRuntimeUNet(UNetConfig config, Func<UNet2DConditionModel> module, OnnxModelCache? cache, string? weightsHash,
        OnnxLinearWeights linearWeights = OnnxLinearWeights.Float32)
    {
        if (!Enum.IsDefined(linearWeights))
            throw new ArgumentException($"linearWeights is {linearWeights}; expected Float32 or DynamicInt8", nameof(linearWeights));
        this.config = config;
        LinearWeights = linearWeights;
        byte[] Export(bool keyValues)
        {
            UNet2DConditionModel unet = module();
            using (no_grad()) return keyValues ? unet.ExportTextKeyValuesOnnx() : unet.ExportOnnx(textKeyValueInputs: true, linearWeights);
        }
        if (cache is null)
        {
            using var options = OrtSessions.Options();
            session = new InferenceSession(Export(false), options);
            textSession = new InferenceSession(Export(true), options);
        }
        else
        {
            string weights = WeightsHash = weightsHash ?? OnnxModelCache.WeightsHash(module());
            bool hit1, hit2;
            // The part's name carries the linear layers' form, so an int8 graph and a float32 one never share a file.
            string part = linearWeights == OnnxLinearWeights.Float32 ? "unet(text key/value inputs)" : $"unet(text key/value inputs, linear weights {linearWeights})";
            (session, hit1) = cache.Open(OnnxModelCache.Key(part, weights), () => Export(false));
            (textSession, hit2) = cache.Open(OnnxModelCache.Key("unet text keys/values", weights), () => Export(true));
            FromCache = hit1 && hit2;
        }
        keyValueNames = [.. textSession.OutputMetadata.Keys];
    }

    static UNet2DConditionModel Checked(UNet2DConditionModel unet)
    {
        ArgumentNullException.ThrowIfNull(unet);
        if (!Fits(unet))
            throw new NotSupportedException(
                $"the U-Net has {FloatBytes(unet) / (1 << 20)} MiB of float32 weights; one ONNX file holds at most 2 GiB; run it with LibTorch");
        return unet;
    }

    /// <summary>How the U-Net graph's linear layers are stored (float32, or int8 with dynamic activation quantisation).</summary>
    public OnnxLinearWeights LinearWeights { get; }

    /// <summary>Whether both optimised models were read from the cache (no export, no graph optimisation).</summary>
    public bool FromCache { get; }

    /// <summary>The U-Net's <see cref="OnnxModelCache.WeightsHash"/> when a cache was used, else null.</summary>
    public string? WeightsHash { get; }

    /// <summary>Whether <paramref name="unet"/>'s float32 weights fit one ONNX file (protobuf's 2 GiB, with room for the graph).</summary>
    /// <param name="unet">The U-Net.</param>
    /// <returns>True when it can be exported.</returns>
    public static bool Fits(UNet2DConditionModel unet) => Fits(FloatBytes(unet));

    /// <summary>Whether <paramref name="floatBytes"/> of float32 weights fit one ONNX file (protobuf's 2 GiB, with room for the graph).</summary>
    internal static bool Fits(long floatBytes) => floatBytes < OnnxGraph.MaxModelBytes - (64L << 20);

    /// <summary>Bytes of the U-Net's weights in float32, as the ONNX export stores them.</summary>
    internal static long FloatBytes(UNet2DConditionModel unet) => unet.parameters().Sum(p => p.numel()) * sizeof(float);

    /// <summary>Computes every cross-attention's keys and values of <paramref name="encoderHiddenStates"/> once, for the steps of one generation.</summary>
    /// <param name="encoderHiddenStates">[B, T, D] (any float dtype); kept (not copied) to check each step's batch.</param>
    /// <returns>The keys and values; the caller disposes them.</returns>
    /// <exception cref="ArgumentException">The states' width is not the cross-attention width.</exception>
    public TextKeyValues PrepareText(Tensor encoderHiddenStates)
    {
        ArgumentNullException.ThrowIfNull(encoderHiddenStates);
        int width = config.CrossAttentionDim.PerBlock(config.BlockOutChannels.Length)[0];
        if (encoderHiddenStates.dim() != 3 || encoderHiddenStates.shape[2] != width)
            throw new ArgumentException(
                $"UNet2DConditionModel expects encoderHiddenStates as [B, T, {width}]; got shape [{string.Join(", ", encoderHiddenStates.shape)}]",
                nameof(encoderHiddenStates));
        using var c = OrtSessions.Float(encoderHiddenStates);
        var values = textSession.Run(runOptions, ["encoder_hidden_states"], [c], keyValueNames);
        return new TextKeyValues(encoderHiddenStates, values);
    }

    /// <summary>Runs the U-Net.</summary>
    /// <param name="sample">[B, C, H, W] (any float dtype; computed in float32).</param>
    /// <param name="timestep">[] or [1] or [B], integer or float.</param>
    /// <param name="encoderHiddenStates">[B, T, D].</param>
    /// <returns>[B, Cout, H, W] float32, on the CPU.</returns>
    /// <exception cref="ArgumentException">A shape is wrong (the same checks and messages as the U-Net's forward).</exception>
    public Tensor Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates)
    {
        UNet2DConditionModel.CheckInputs(config, sample, timestep, encoderHiddenStates);
        using var text = PrepareText(encoderHiddenStates);
        return Forward(sample, timestep, text);
    }

    /// <summary>Runs the U-Net on keys and values computed by <see cref="PrepareText"/>.</summary>
    /// <param name="sample">[B, C, H, W] (any float dtype; computed in float32).</param>
    /// <param name="timestep">[] or [1] or [B], integer or float.</param>
    /// <param name="text">From <see cref="PrepareText"/> on [B, T, D] states of this U-Net.</param>
    /// <returns>[B, Cout, H, W] float32, on the CPU.</returns>
    /// <exception cref="ArgumentException">A shape is wrong (the same checks and messages as the U-Net's forward).</exception>
    public Tensor Forward(Tensor sample, Tensor timestep, TextKeyValues text)
    {
        // sample: [B, C, H, W], timestep: [] / [1] / [B], text: keys/values of [B, T, D] -> [B, Cout, H, W]
        ArgumentNullException.ThrowIfNull(text);
        UNet2DConditionModel.CheckInputs(config, sample, timestep, text.States);
        long b = sample.shape[0];
        using var scope = NewDisposeScope();
        using var x = OrtSessions.Float(sample);
        using var t = OrtSessions.Float(timestep.reshape(-1).expand(b));
        string[] names = ["sample", "timestep", .. keyValueNames];
        OrtValue[] values = [x, t, .. text.Values];
        using var outputs = session.Run(runOptions, names, values, ["out_sample"]);
        return OrtSessions.ToTensor(outputs[0]).MoveToOuterDisposeScope();
    }

    /// <summary>Releases the sessions.</summary>
    public void Dispose()
    {
        session.Dispose();
        textSession.Dispose();
        runOptions.Dispose();
    }

    /// <summary>Each cross-attention's keys and values of one generation's text states, as ONNX Runtime values.</summary>
    public sealed class TextKeyValues : IDisposable
    {
        readonly IDisposableReadOnlyCollection<OrtValue> values;

        internal TextKeyValues(Tensor states, IDisposableReadOnlyCollection<OrtValue> values) => (States, this.values) = (states, values);

        /// <summary>The [B, T, D] states they were computed from (not owned).</summary>
        public Tensor States { get; }

        internal IEnumerable<OrtValue> Values => values;

        /// <summary>Frees the values.</summary>
        public void Dispose() => values.Dispose();
    }
}
