using Latent.Pipeline.Ort;
using Latent.Vae;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// A VAE's decoder (and, on first use, its encoder) run by ONNX Runtime (CPU, float32) from its ONNX exports
/// (<see cref="AutoencoderKL.ExportDecoderOnnx"/>, <see cref="AutoencoderKL.ExportEncoderOnnx"/>): the same functions as
/// <see cref="AutoencoderKL.Decode"/> and <see cref="AutoencoderKL.Encode"/>.
/// </summary>
/// <remarks>The encoder's session is opened on the first <see cref="Encode"/> (only image-to-image needs it), so a
/// text-to-image run never pays for it; the VAE module is asked for then only if the cache does not hold the encoder.</remarks>
public sealed class OnnxRuntimeVae : IDisposable
{
    readonly VaeConfig config;
    readonly Func<AutoencoderKL> module;
    readonly OnnxModelCache? cache;
    readonly string? weightsHash;
    readonly InferenceSession decoder;
    readonly RunOptions runOptions = new();
    InferenceSession? encoder;

    /// <summary>Exports the decoder (or reads its optimised form from <paramref name="cache"/>) and opens its session.</summary>
    /// <param name="vae">The VAE; kept for the encoder's export on first use.</param>
    /// <param name="cache">Where optimised models are kept between runs; null exports and optimises every time.</param>
    public OnnxRuntimeVae(AutoencoderKL vae, OnnxModelCache? cache = null)
        : this((vae ?? throw new ArgumentNullException(nameof(vae))).Config, () => vae, cache, weightsHash: null) { }

    /// <summary>Opens the decoder's session of a VAE known by its config and weights hash: from <paramref name="cache"/>
    /// when it holds it, without calling <paramref name="module"/>; else exported from <paramref name="module"/> (which is
    /// also asked for the encoder's export on first use, when the cache does not hold it).</summary>
    internal OnnxRuntimeVae(VaeConfig config, Func<AutoencoderKL> module, OnnxModelCache? cache, string? weightsHash)
    {
        (this.config, this.module, this.cache) = (config, module, cache);
        this.weightsHash = cache is null ? null : weightsHash ?? OnnxModelCache.WeightsHash(module());
        (decoder, FromCache) = Open("vae_decoder", vae => vae.ExportDecoderOnnx());
    }

    /// <summary>Whether the decoder's optimised model was read from the cache.</summary>
    public bool FromCache { get; }

    (InferenceSession Session, bool Hit) Open(string part, Func<AutoencoderKL, byte[]> export)
    {
        byte[] Export() { AutoencoderKL vae = module(); using (no_grad()) return export(vae); }
        if (cache is not null) return cache.Open(OnnxModelCache.Key(part, weightsHash!), Export);
        using var options = OrtSessions.Options();
        return (new InferenceSession(Export(), options), false);
    }

    /// <summary>Decodes latents (unscaled) to images.</summary>
    /// <param name="z">[B, latent, h, w] (any float dtype).</param>
    /// <returns>[B, Cout, h * f, w * f] float32 on the CPU.</returns>
    /// <exception cref="ArgumentException">The shape is wrong.</exception>
    public Tensor Decode(Tensor z)
    {
        AutoencoderKL.CheckLatents(config, z);
        using var input = OrtSessions.Float(z);
        using var outputs = decoder.Run(runOptions, ["latent_sample"], [input], ["sample"]);
        return OrtSessions.ToTensor(outputs[0]);
    }

    /// <summary>Encodes images to the latent posterior.</summary>
    /// <param name="x">[B, in_channels, H, W] in [-1, 1]; H and W multiples of the VAE's factor.</param>
    /// <returns>The posterior; the caller disposes it.</returns>
    /// <exception cref="ArgumentException">The shape is wrong.</exception>
    public DiagonalGaussianDistribution Encode(Tensor x)
    {
        AutoencoderKL.CheckImages(config, x);
        encoder ??= Open("vae_encoder", vae => vae.ExportEncoderOnnx()).Session;
        using var input = OrtSessions.Float(x);
        using var outputs = encoder.Run(runOptions, ["sample"], [input], ["moments"]);
        using var moments = OrtSessions.ToTensor(outputs[0]);
        return new DiagonalGaussianDistribution(moments);
    }

    /// <summary>Releases the sessions.</summary>
    public void Dispose()
    {
        decoder.Dispose();
        encoder?.Dispose();
        runOptions.Dispose();
    }
}
