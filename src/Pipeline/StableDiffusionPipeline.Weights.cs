using Latent.Pipeline.Ort;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline;

// Parts that run on ONNX Runtime do not keep a second float32 copy of their weights in LibTorch: the session holds
// its own. They are read again from the model's files when LibTorch needs them (LoRAs, saving).
public sealed partial class StableDiffusionPipeline
{
    Func<PipelineComponents>? reloadWeights;
    readonly List<(nn.Module Module, string Hash)> releasedWeights = [];

    /// <summary>Whether some LibTorch module's weights are released (its part runs on ONNX Runtime).</summary>
    internal bool TorchWeightsReleased => releasedWeights.Count > 0;

    /// <summary>
    /// Frees the LibTorch weights of the U-Net and the text encoder when ONNX Runtime runs them (an owned pipeline only:
    /// the VAE stays, it is small and its encoder is exported on first use). Each parameter keeps its identity with an
    /// empty storage; <see cref="EnsureTorchWeights"/> fills them again from <paramref name="reload"/>.
    /// </summary>
    void ReleaseTorchWeights(Func<PipelineComponents> reload)
    {
        reloadWeights = reload;
        if (onnxUNet is not null) Release(unet, onnxUNet.WeightsHash);
        if (onnxText is not null) Release(textEncoder, onnxText.WeightsHash);
    }

    void Release(nn.Module module, string? hash)
    {
        hash ??= OnnxModelCache.WeightsHash(module);
        using (no_grad())
            foreach (var p in module.parameters())
                p.set_(empty(0, p.dtype, p.device));
        releasedWeights.Add((module, hash));
    }

    /// <summary>Reads released weights back from the model's files (the whole model is read, the other parts dropped).</summary>
    /// <exception cref="InvalidOperationException">The files changed since the pipeline was loaded: their weights are not the ones ONNX Runtime runs.</exception>
    void EnsureTorchWeights()
    {
        if (releasedWeights.Count == 0) return;
        PipelineComponents c = reloadWeights!();
        try
        {
            foreach (var (module, hash) in releasedWeights)
            {
                nn.Module fresh = ReferenceEquals(module, unet) ? c.UNet : c.TextEncoder;
                var weights = fresh.named_parameters().ToDictionary(p => p.name, p => p.parameter);
                using (no_grad())
                    foreach (var (name, p) in module.named_parameters())
                        p.set_(weights[name]);
                if (OnnxModelCache.WeightsHash(module) != hash)
                    throw new InvalidOperationException(
                        $"the model's files changed since the pipeline was loaded ({module.GetName()}'s weights differ from the ones ONNX Runtime runs); load it again");
            }
            releasedWeights.Clear();
        }
        finally
        {
            c.Vae.Dispose();
            c.TextEncoder.Dispose();
            c.UNet.Dispose();
        }
    }
}
