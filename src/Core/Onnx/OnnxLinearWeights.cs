namespace Latent.Core.Onnx;

/// <summary>How an exported graph stores and multiplies its linear layers' weights (<see cref="OnnxGraph.LinearWeights"/>).</summary>
public enum OnnxLinearWeights
{
    /// <summary>float32 weights and MatMul (+ Add): the module's function within float32 rounding. The default.</summary>
    Float32,

    /// <summary>
    /// Dynamic int8 quantisation: each weight stored as int8 with one symmetric scale per output channel
    /// (<see cref="OnnxQuantization.Int8PerOutputChannel"/>), multiplied by ONNX Runtime's
    /// <c>com.microsoft.DynamicQuantizeMatMul</c>, which quantises the activations to uint8 per call (one scale and zero
    /// point per tensor, from its min and max), runs an integer GEMM (u8 x s8 -> s32) and rescales to float32 (+ bias).
    /// Runs only on ONNX Runtime. A quarter of the weight bytes; the output is approximate (docs/PERFORMANCE.md gives
    /// the measured error and speed). Convolutions, attention products and the norms stay float32.
    /// </summary>
    DynamicInt8,
}
