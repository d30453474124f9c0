using Latent.Pipeline.Ort;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>What names a part's weights: <see cref="OnnxModelCache.WeightsHash"/> (the cached graphs' key; null without a
/// cache) and, for a folder's part, <see cref="OnnxModelCache.FilesHash"/> of its config and weights files.</summary>
internal sealed record WeightsId(string? Weights, string? Files);

/// <summary>The <see cref="WeightsId"/> of each part ONNX Runtime runs (null ones for the parts it does not).</summary>
internal sealed record WeightsIds(WeightsId UNet, WeightsId TextEncoder, WeightsId Vae);

// Parts that run on ONNX Runtime keep no second float32 copy of their weights in LibTorch: the session holds its own.
// Their modules are built from the model's files only when LibTorch needs them (LoRAs, saving, a call too large for
// ONNX Runtime's attention), and a warm start builds none (the sessions and the weights' hashes come from the cache).
public sealed partial class StableDiffusionPipeline
{
    /// <summary>Whether some LibTorch module is not built (its part runs on ONNX Runtime).</summary>
    internal bool TorchWeightsReleased => ownsModules && !(vae.IsBuilt && textEncoder.IsBuilt && unet.IsBuilt);

    /// <summary>Test hook: which LibTorch modules exist now, and how many times each was built from the files.</summary>
    internal (bool UNet, bool TextEncoder, bool Vae, int Builds) TorchModules =>
        (unet.IsBuilt, textEncoder.IsBuilt, vae.IsBuilt, unet.Builds + textEncoder.Builds + vae.Builds);

    /// <summary>
    /// Names each part ONNX Runtime runs without building it where it can: a folder's part by the hash of its files, and
    /// the weights' hash that an earlier load remembered for them in <paramref name="cache"/> (else the module is built
    /// once to hash its weights, and the pair is remembered); a single file's part (built already) by its weights.
    /// </summary>
    static WeightsId Identify<T>(TorchPart<T> part, PartSource<T> source, OnnxModelCache? cache) where T : nn.Module
    {
        if (source.Files is not { } files) return new WeightsId(cache is null ? null : OnnxModelCache.WeightsHash(part.Value), null);
        string filesHash = OnnxModelCache.FilesHash(files);
        if (cache is null) return new WeightsId(null, filesHash);
        string? weights = cache.RememberedWeightsHash(filesHash);
        if (weights is null)
        {
            weights = OnnxModelCache.WeightsHash(part.Value);
            cache.RememberWeightsHash(filesHash, weights);
        }
        return new WeightsId(weights, filesHash);
    }

    /// <summary>
    /// Frees the LibTorch modules of the parts ONNX Runtime runs (an owned pipeline only; a module built for an export or
    /// the runtime probe, or none on a warm start) and arms each to be built again from the same files, refused if the
    /// files changed since the load (their weights would not be the ones ONNX Runtime runs).
    /// </summary>
    void ReleaseTorchParts(PipelineSource source, WeightsIds ids)
    {
        if (onnxUNet is not null) Release(unet, source.UNet, ids.UNet);
        if (onnxText is not null) Release(textEncoder, source.TextEncoder, ids.TextEncoder);
        if (onnxVae is not null) Release(vae, source.Vae, ids.Vae);
    }

    static void Release<T>(TorchPart<T> part, PartSource<T> source, WeightsId id) where T : nn.Module
    {
        static InvalidOperationException Changed() => new(
            $"the model's files changed since the pipeline was loaded ({typeof(T).Name}'s weights differ from the ones ONNX Runtime runs); load it again");
        if (source.Files is { } files)
        {
            // A folder's part: the files are checked by their hash before the module is built from them.
            string loaded = id.Files!;
            part.Release(() => OnnxModelCache.FilesHash(files) == loaded ? source.Load() : throw Changed());
            return;
        }
        // A single file's part (built already): its weights are hashed now and checked after the file is read again.
        string hash = id.Weights ?? OnnxModelCache.WeightsHash(part.Value);
        part.Release(() =>
        {
            T module = source.Load();
            if (OnnxModelCache.WeightsHash(module) == hash) return module;
            module.Dispose();
            throw Changed();
        });
    }
}
