using static TorchSharp.torch;

namespace Latent.Pipeline.Denoising;

/// <summary>The U-Net on ONNX Runtime (float32), with the text's keys and values computed once per generation by its
/// second graph (<see cref="OnnxRuntimeUNet.PrepareText"/>).</summary>
/// <param name="unet">The sessions; not owned.</param>
internal sealed class OrtDenoiser(OnnxRuntimeUNet unet) : IDenoiser
{
    /// <inheritdoc/>
    public IDenoising Begin(Tensor encoderHiddenStates) => new Call(unet, unet.PrepareText(encoderHiddenStates));

    sealed class Call(OnnxRuntimeUNet unet, OnnxRuntimeUNet.TextKeyValues text) : IDenoising
    {
        public Tensor Forward(Tensor sample, Tensor timestep) => unet.Forward(sample, timestep, text);

        public void Dispose() => text.Dispose();
    }
}
