using Latent.Pipeline.Ort;
using Latent.TextEncoder;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// A CLIP text encoder run by ONNX Runtime (CPU, float32) from its ONNX export (<see cref="ClipTextModel.ExportOnnx"/>):
/// the same last hidden state as <see cref="ClipTextModel.forward"/>.
/// </summary>
/// <remarks>The session holds its own float32 copy of the weights; with an <see cref="OnnxModelCache"/> the optimised model
/// is read from disk when the weights were seen before.</remarks>
public sealed class OnnxRuntimeTextEncoder : IDisposable
{
    readonly ClipTextConfig config;
    readonly InferenceSession session;
    readonly RunOptions runOptions = new();

    /// <summary>Exports <paramref name="model"/> (or reads its optimised form from <paramref name="cache"/>) and opens a session.</summary>
    /// <param name="model">The text encoder; its weights are copied into the session (only its config is kept).</param>
    /// <param name="cache">Where optimised models are kept between runs; null exports and optimises every time.</param>
    public OnnxRuntimeTextEncoder(ClipTextModel model, OnnxModelCache? cache = null)
        : this((model ?? throw new ArgumentNullException(nameof(model))).Config, () => model, cache, weightsHash: null) { }

    /// <summary>Opens the session of a text encoder known by its config and weights hash: from <paramref name="cache"/> when it
    /// holds it, without calling <paramref name="module"/>; else exported from <paramref name="module"/>.</summary>
    internal OnnxRuntimeTextEncoder(ClipTextConfig config, Func<ClipTextModel> module, OnnxModelCache? cache, string? weightsHash)
    {
        this.config = config;
        byte[] Export() { ClipTextModel model = module(); using (no_grad()) return model.ExportOnnx(); }
        if (cache is null)
        {
            using var options = OrtSessions.Options();
            session = new InferenceSession(Export(), options);
        }
        else
        {
            WeightsHash = weightsHash ?? OnnxModelCache.WeightsHash(module());
            (session, FromCache) = cache.Open(OnnxModelCache.Key("text_encoder", WeightsHash), Export);
        }
    }

    /// <summary>Whether the optimised model was read from the cache.</summary>
    public bool FromCache { get; }

    /// <summary>The model's <see cref="OnnxModelCache.WeightsHash"/> when a cache was used, else null.</summary>
    public string? WeightsHash { get; }

    /// <summary>The last hidden state.</summary>
    /// <param name="inputIds">[B, T] int64 token ids; 1 ≤ T ≤ max_position_embeddings, ids in [0, vocab_size).</param>
    /// <returns>[B, T, D] float32 on the CPU.</returns>
    /// <exception cref="ArgumentException">The ids are out of range (the checks and messages of <see cref="ClipTextModel.forward"/>).</exception>
    public Tensor Forward(Tensor inputIds)
    {
        ClipTextModel.CheckInputIds(inputIds, config);
        using var ids = OrtSessions.Int64(inputIds);
        using var outputs = session.Run(runOptions, ["input_ids"], [ids], ["last_hidden_state"]);
        return OrtSessions.ToTensor(outputs[0]);
    }

    /// <summary>Releases the session.</summary>
    public void Dispose()
    {
        session.Dispose();
        runOptions.Dispose();
    }
}
