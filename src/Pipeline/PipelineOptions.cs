using Latent.Core.Onnx;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>How <see cref="StableDiffusionPipeline.Load"/> prepares the models.</summary>
public sealed record PipelineOptions
{
    /// <summary>
    /// The U-Net's compute dtype: <see cref="ScalarType.Float32"/> (the default) or <see cref="ScalarType.BFloat16"/>
    /// (about 1.5x faster per step on CPUs with bf16 units; images differ by about 1e-2). The weights files may be fp32,
    /// fp16 or bf16 either way. The text encoder and the VAE stay float32: each runs once per image, so bf16 would save
    /// little there and cost accuracy (the VAE decoder's large activations). There is no autocast: the module and its
    /// inputs are converted, the latents and the scheduler stay float32. Loading checks bf16 against float32 first
    /// (<see cref="Latent.Core.Engine.BFloat16Check"/>: the engine's ops and one U-Net call, about two steps' time) and
    /// refuses it where this engine computes it wrongly on this CPU, rather than make wrong images.
    /// </summary>
    public ScalarType Dtype { get; init; } = ScalarType.Float32;

    /// <summary>
    /// Which engine runs the models: <see cref="UNetRuntime.LibTorch"/> (the default), <see cref="UNetRuntime.OnnxRuntime"/>
    /// (float32 only: the U-Net, the text encoder and the VAE exported from the loaded weights when the pipeline is loaded,
    /// about a second for the emoji model without a cache, then ~1.5x faster per step) or <see cref="UNetRuntime.Auto"/>
    /// (as the CLI does: see that value).
    /// </summary>
    public UNetRuntime Runtime { get; init; } = UNetRuntime.LibTorch;

    /// <summary>
    /// How ONNX Runtime's U-Net stores its linear layers: <see cref="OnnxLinearWeights.Float32"/> (the default: the same
    /// function as LibTorch's within float32 rounding) or <see cref="OnnxLinearWeights.DynamicInt8"/> (int8 weights with
    /// activations quantised per call; the noise prediction within about 1% of float32's, docs/PERFORMANCE.md has the
    /// speed and the decision). DynamicInt8 needs <see cref="Runtime"/> OnnxRuntime or Auto (Auto then runs the U-Net on
    /// ONNX Runtime without measuring LibTorch) and <see cref="Dtype"/> Float32. The text encoder and the VAE stay float32.
    /// </summary>
    public OnnxLinearWeights UNetLinearWeights { get; init; } = OnnxLinearWeights.Float32;

    /// <summary>
    /// Where ONNX Runtime's optimised models are kept between runs (<see cref="Ort.OnnxModelCache"/>; e.g.
    /// <see cref="Ort.OnnxModelCache.DefaultDirectory"/>, which the CLI uses): a later load of the same weights skips the
    /// export and the graph optimisation. Null (the default): nothing is written, every load exports.
    /// </summary>
    public string? OnnxCacheDirectory { get; init; }

    /// <summary>
    /// For a single-file checkpoint: a diffusers folder whose <c>unet/</c>, <c>vae/</c>, <c>text_encoder/</c> and
    /// <c>scheduler/</c> configs replace the ones read from the file's keys (as diffusers' <c>from_single_file(config=)</c>),
    /// and whose <c>tokenizer/</c> is used (a single file carries none). Its weights are not read. Ignored for folders.
    /// </summary>
    public string? ConfigDirectory { get; init; }

    /// <summary>The model name written to the images' parameters (<c>Model:</c>); null takes the folder's (or file's) name.</summary>
    public string? ModelName { get; init; }
}
