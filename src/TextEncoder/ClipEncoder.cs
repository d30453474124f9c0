using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>transformers' <c>CLIPEncoder</c>: a stack of <see cref="ClipEncoderLayer"/> (state-dict keys <c>layers.{i}.*</c>).</summary>
public sealed class ClipEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ClipEncoderLayer> layers;

    /// <summary>Creates <c>num_hidden_layers</c> layers.</summary>
    /// <param name="config">A validated config.</param>
    /// <param name="causal">Whether the layers' self-attention is causal.</param>
    public ClipEncoder(ClipTextConfig config, bool causal = true) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>();
        for (int i = 0; i < config.NumHiddenLayers; i++)
            layers.Add(new ClipEncoderLayer(config, causal));
        RegisterComponents();
    }

    /// <summary>The number of layers N.</summary>
    public int LayerCount => layers.Count;

    /// <summary>Runs every layer.</summary>
    /// <param name="x">[B, T, D] embeddings.</param>
    /// <returns>[B, T, D], the output of the last layer.</returns>
    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary>Runs every layer, optionally collecting each layer's output.</summary>
    /// <param name="x">[B, T, D] embeddings.</param>
    /// <param name="hiddenStates">
    /// When not null, receives N + 1 tensors [B, T, D] owned by the caller, as transformers' <c>hidden_states</c>:
    /// [0] = an alias of <paramref name="x"/>, [i] = the output of layer i.
    /// </param>
    /// <returns>[B, T, D], the output of the last layer.</returns>
    public Tensor Forward(Tensor x, List<Tensor>? hiddenStates)
    {
        // x: [B, T, D] -> [B, T, D]
        using var scope = NewDisposeScope();
        hiddenStates?.Add(x.alias().MoveToOuterDisposeScope());
        var h = x;
        foreach (var layer in layers)
        {
            h = layer.forward(h);
            hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
        }
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Writes every layer into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "text_model.encoder".</param>
    /// <param name="x">[B, T, D].</param>
    /// <param name="maxPositions">max_position_embeddings (the causal mask's size).</param>
    /// <returns>[B, T, D].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x, int maxPositions)
    {
        for (int i = 0; i < layers.Count; i++) x = layers[i].ExportOnnx(g, $"{key}.layers.{i}", x, maxPositions);
        return x;
    }
}
