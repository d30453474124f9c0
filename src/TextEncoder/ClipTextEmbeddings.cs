using Latent.Core.Onnx;
using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>
/// transformers' <c>CLIPTextEmbeddings</c>: token embedding plus learned absolute position embedding.
/// </summary>
/// <remarks>
/// <c>h[b, t] = token_embedding[input_ids[b, t]] + position_embedding[t]</c>. State-dict keys: <c>token_embedding.weight</c>
/// [V, D], <c>position_embedding.weight</c> [P, D]. transformers 4.33 keeps <c>position_ids</c> as a non-persistent buffer
/// (arange(P)); older checkpoints carry it, and <see cref="ClipTextModel.MapCheckpointKey"/> drops it on load.
/// </remarks>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Embedding token_embedding;
    private readonly Embedding position_embedding;

    /// <summary>Creates the embeddings with transformers' initialisation: N(0, initializer_range * initializer_factor).</summary>
    /// <param name="config">A validated config.</param>
    public ClipTextEmbeddings(ClipTextConfig config) : base(nameof(ClipTextEmbeddings))
    {
        token_embedding = nn.Embedding(config.VocabSize, config.HiddenSize);
        position_embedding = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        double std = config.InitializerRange * config.InitializerFactor;
        using (no_grad())
        {
            token_embedding.weight!.normal_(0.0, std);
            position_embedding.weight!.normal_(0.0, std);
        }
        RegisterComponents();
    }

    /// <summary>Embeds token ids.</summary>
    /// <param name="inputIds">[B, T] int64 token ids, T ≤ max_position_embeddings.</param>
    /// <returns>[B, T, D].</returns>
    public override Tensor forward(Tensor inputIds)
    {
        // input_ids: [B, T] -> [B, T, D]
        using var scope = NewDisposeScope();
        using var t = inputIds.shape[1].ToScalar();
        var positions = arange(Scalars.Of(0), t, Scalars.One, dtype: ScalarType.Int64, device: inputIds.device);   // [T]
        var h = token_embedding.forward(inputIds).add(position_embedding.forward(positions), Scalars.One); // [B, T, D] + [T, D]
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes this module's forward into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "text_model.embeddings".</param>
    /// <param name="inputIds">[B, T] int64.</param>
    /// <returns>[B, T, D].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string inputIds)
    {
        // token_embedding[ids]: [B, T, D]; position_embedding[0..T): the first T rows, T read from the ids' shape
        string tokens = g.Node("Gather", [g.Weight($"{key}.token_embedding.weight", token_embedding.weight!), inputIds]);
        string length = g.Node("Shape", [inputIds], OnnxAttribute.Int("start", 1), OnnxAttribute.Int("end", 2));
        string positions = g.Node("Slice", [g.Weight($"{key}.position_embedding.weight", position_embedding.weight!), g.Ints("zero", 0), length, g.Ints("axis0", 0)]);
        return g.Node("Add", [tokens, positions]);
    }
}
