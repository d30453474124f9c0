namespace Latent.Pipeline;

/// <summary>Which engine runs the models at sampling time: the U-Net, and the text encoder and the VAE (the scheduler runs on LibTorch either way).</summary>
public enum UNetRuntime
{
    /// <summary>TorchSharp's LibTorch, in the dtype of <see cref="PipelineOptions.Dtype"/>.</summary>
    LibTorch,

    /// <summary>ONNX Runtime (CPU, float32) on the models' ONNX exports: the same functions with less overhead per op
    /// (<see cref="OnnxRuntimeUNet"/>, <see cref="OnnxRuntimeTextEncoder"/>, <see cref="OnnxRuntimeVae"/>).</summary>
    OnnxRuntime,

    /// <summary>
    /// The U-Net on <see cref="OnnxRuntime"/> where it can run it (Float32 compute and float32 weights that fit one ONNX
    /// file, under 2 GiB: not SD 1.x's 3.4 GB), else <see cref="LibTorch"/>; the text encoder and the VAE (float32 in
    /// either case) on ONNX Runtime. With <see cref="PipelineOptions.OnnxCacheDirectory"/> set, a U-Net that ONNX Runtime
    /// can run goes to whichever engine <see cref="Ort.RuntimeProbe"/> measured faster on this machine for this model (once,
    /// then read back). Resolved when the pipeline is loaded.
    /// </summary>
    Auto,
}
