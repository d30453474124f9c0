using static TorchSharp.torch;

namespace Latent.Pipeline.Denoising;

/// <summary>
/// The U-Net as the denoising loop sees it: one engine (LibTorch or ONNX Runtime), chosen when the pipeline is loaded,
/// behind one call per step. The loop never asks which engine runs (stable-diffusion.cpp's samplers take a denoise
/// callback, never the network).
/// </summary>
internal interface IDenoiser
{
    /// <summary>Prepares one generation: the text states' cross-attention keys and values, computed once for every step.</summary>
    /// <param name="encoderHiddenStates">[B, T, D] text states (the U-Net's dtype); kept, not copied, until the result is disposed.</param>
    /// <returns>The per-step call; the caller disposes it when the loop ends.</returns>
    IDenoising Begin(Tensor encoderHiddenStates);
}

/// <summary>One generation's U-Net calls (from <see cref="IDenoiser.Begin"/>).</summary>
internal interface IDenoising : IDisposable
{
    /// <summary>The U-Net's noise prediction.</summary>
    /// <param name="sample">[B, C, h, w] float32 latents (already scaled by the scheduler).</param>
    /// <param name="timestep">[] the step's timestep (int64 or float, as the scheduler gives it).</param>
    /// <returns>[B, C, h, w] float32.</returns>
    Tensor Forward(Tensor sample, Tensor timestep);
}
