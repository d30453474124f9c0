using Latent.Core.Onnx;
using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>
/// transformers' <c>CLIPTextTransformer</c> (the <c>text_model</c> of <see cref="ClipTextModel"/> and
/// <see cref="ClipModel"/>): embeddings, a causal pre-LayerNorm encoder, a final LayerNorm, and eos pooling.
/// </summary>
/// <remarks>
/// State-dict keys: <c>embeddings.*</c>, <c>encoder.layers.{i}.*</c>, <c>final_layer_norm.weight</c>/<c>.bias</c>.
/// Pooling follows transformers 4.33: with the legacy <c>eos_token_id == 2</c> the pooled position is
/// argmax(input_ids) (OpenAI's eot is the largest id); otherwise it is the first position equal to
/// <c>eos_token_id</c> (position 0 when a row has none, as argmax of an all-zero row gives). No padding mask is applied,
/// as in SD: padded positions follow the eos and the causal mask keeps them out of every earlier state.
/// </remarks>
public sealed class ClipTextTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ClipTextEmbeddings embeddings;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm final_layer_norm;
    private readonly int eosTokenId;

    /// <summary>Creates the transformer with transformers' initialisation.</summary>
    /// <param name="config">A validated config.</param>
    public ClipTextTransformer(ClipTextConfig config) : base(nameof(ClipTextTransformer))
    {
        embeddings = new ClipTextEmbeddings(config);
        encoder = new ClipEncoder(config, causal: true);
        final_layer_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        eosTokenId = config.EosTokenId;
        RegisterComponents();
    }

    /// <summary>The last hidden state.</summary>
    /// <param name="inputIds">[B, T] int64, checked by the caller.</param>
    /// <returns>[B, T, D].</returns>
    public override Tensor forward(Tensor inputIds)
    {
        using var output = Encode(inputIds, outputHiddenStates: false);
        return output.LastHiddenState.alias();
    }

    /// <summary>Runs the model; see <see cref="ClipTextOutput"/>.</summary>
    /// <param name="inputIds">[B, T] int64, checked by the caller.</param>
    /// <param name="outputHiddenStates">Whether to return every layer's output.</param>
    public ClipTextOutput Encode(Tensor inputIds, bool outputHiddenStates)
    {
        // input_ids: [B, T] -> last_hidden_state [B, T, D], pooler_output [B, D], hidden_states (N + 1) x [B, T, D]
        using var scope = NewDisposeScope();
        var hiddenStates = outputHiddenStates ? new List<Tensor>() : null;
        var h = embeddings.forward(inputIds);                       // [B, T, D]
        h = encoder.Forward(h, hiddenStates);                       // [B, T, D]
        var last = final_layer_norm.forward(h);                     // [B, T, D]
        var pooled = Pool(last, inputIds);                          // [B, D]
        hiddenStates?.ForEach(s => s.MoveToOuterDisposeScope());
        return new ClipTextOutput(last.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope(), hiddenStates);
    }

    /// <summary>Writes the last hidden state's computation into an ONNX graph (no pooling: the pipeline reads the states).</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, "text_model".</param>
    /// <param name="inputIds">[B, T] int64.</param>
    /// <param name="maxPositions">max_position_embeddings.</param>
    /// <returns>[B, T, D].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string inputIds, int maxPositions)
    {
        string h = embeddings.ExportOnnx(g, $"{key}.embeddings", inputIds);
        h = encoder.ExportOnnx(g, $"{key}.encoder", h, maxPositions);
        return g.LayerNorm($"{key}.final_layer_norm", final_layer_norm, h);
    }

    /// <summary>Applies the final LayerNorm, e.g. to a penultimate hidden state (diffusers' <c>clip_skip</c>).</summary>
    /// <param name="hidden">[B, T, D].</param>
    /// <returns>[B, T, D].</returns>
    public Tensor FinalLayerNorm(Tensor hidden) => final_layer_norm.forward(hidden);

    /// <summary>The pooling position of each row: the first eos (or argmax(input_ids) for the legacy eos id 2).</summary>
    /// <param name="inputIds">[B, T] int64.</param>
    /// <returns>[B] int64.</returns>
    public Tensor PoolingPositions(Tensor inputIds)
    {
        // input_ids: [B, T] -> [B]
        using var scope = NewDisposeScope();
        var key = eosTokenId == 2 ? inputIds : inputIds.eq(Scalars.Of(eosTokenId)).to(ScalarType.Int32);
        return key.argmax(-1).MoveToOuterDisposeScope();
    }

    Tensor Pool(Tensor last, Tensor inputIds)
    {
        // last: [B, T, D], input_ids: [B, T] -> [B, D]
        var positions = PoolingPositions(inputIds).to(last.device);                     // [B]
        var index = positions.view(-1, 1, 1).expand(-1, 1, last.shape[2]);            // [B, 1, D]
        return last.gather(1, index).squeeze(1);                                      // [B, 1, D] -> [B, D]
    }
}
