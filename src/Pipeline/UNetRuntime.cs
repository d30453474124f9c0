namespace Latent.Pipeline;

/// <summary>Which engine runs the U-Net at sampling time (the text encoder, the VAE and the scheduler run on LibTorch either way).</summary>
public enum UNetRuntime
{
    /// <summary>TorchSharp's LibTorch, in the dtype of <see cref="PipelineOptions.Dtype"/>.</summary>
    LibTorch,

    /// <summary>ONNX Runtime (CPU, float32) on the U-Net's in-memory ONNX export: the same function with less overhead per op (<see cref="OnnxRuntimeUNet"/>).</summary>
    OnnxRuntime,

    /// <summary>
    /// <see cref="OnnxRuntime"/> where it can run the model (Float32 compute and a U-Net whose float32 weights fit one ONNX
    /// file, under 2 GiB: not SD 1.x's 3.4 GB), else <see cref="LibTorch"/>; resolved when the pipeline is loaded.
    /// </summary>
    Auto,
}
