using Latent.Core.Nn;
using Latent.UNetCrossAttn;
using static TorchSharp.torch;

namespace Latent.Pipeline.Denoising;

/// <summary>The U-Net on LibTorch, in its own dtype (float32 or bf16), with the text's keys and values cached per generation
/// (<see cref="UNet2DConditionModel.PrepareAttention"/>).</summary>
/// <param name="unet">Gives the U-Net; called once per generation (a pipeline whose ONNX Runtime U-Net cannot hold a call
/// builds its LibTorch U-Net here, on first use).</param>
internal sealed class TorchDenoiser(Func<UNet2DConditionModel> unet) : IDenoiser
{
    /// <inheritdoc/>
    public IDenoising Begin(Tensor encoderHiddenStates) => new Call(unet(), encoderHiddenStates);

    sealed class Call : IDenoising
    {
        readonly UNet2DConditionModel unet;
        readonly Tensor states;
        readonly AttentionCache attention;
        readonly ScalarType dtype;

        public Call(UNet2DConditionModel unet, Tensor states)
        {
            (this.unet, this.states, dtype) = (unet, states, unet.parameters().First().dtype);
            attention = unet.PrepareAttention(states);
        }

        // sample: [B, C, h, w] float32 -> the U-Net's dtype -> noise [B, C, h, w] float32
        public Tensor Forward(Tensor sample, Tensor timestep) =>
            unet.Forward(sample.to(dtype), timestep, states, attention).to(ScalarType.Float32);

        public void Dispose() => attention.Dispose();
    }
}
