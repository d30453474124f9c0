using System.Text.Json.Serialization;
using Latent.Core.Config;

namespace Latent.TextEncoder;

/// <summary>The MLP activation of a CLIP text encoder (transformers' <c>hidden_act</c>).</summary>
public enum ClipActivation
{
    /// <summary><c>"quick_gelu"</c>: x * sigmoid(1.702 x), OpenAI CLIP's approximation (SD 1.x).</summary>
    QuickGelu,

    /// <summary><c>"gelu"</c>: the exact erf GELU, x * Phi(x) (OpenCLIP, SD 2.x).</summary>
    Gelu,
}

/// <summary>
/// transformers' <c>CLIPTextConfig</c> (config.json of a <c>CLIPTextModel</c>), with its key names. A key missing
/// from a file takes transformers' default (the openai/clip-vit-base-patch32 text tower), so a file reads as
/// transformers would read it.
/// </summary>
/// <remarks>
/// Letters used in shape comments: B batch, T tokens (≤ <see cref="MaxPositionEmbeddings"/>), D
/// <see cref="HiddenSize"/>, heads <see cref="NumAttentionHeads"/>, Dh = D / heads, F <see cref="IntermediateSize"/>.
/// Call <see cref="Validate"/> (the model's constructor does) before building a model from a hand-made config.
/// </remarks>
public sealed record ClipTextConfig : TransformersConfig
{
    /// <summary>The class name transformers records in <c>architectures</c>.</summary>
    public const string ClassName = "CLIPTextModel";

    /// <summary>transformers' <c>model_type</c> of a CLIP text config.</summary>
    public const string TypeName = "clip_text_model";

    /// <summary><c>vocab_size</c>: rows of the token embedding; must equal the tokenizer's vocabulary (49408 for OpenAI's BPE).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 49408;

    /// <summary><c>hidden_size</c>: width D of every token state, and the U-Net's <c>cross_attention_dim</c> (512 in transformers, 768 in SD 1.x).</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 512;

    /// <summary><c>intermediate_size</c>: width F of the MLP's hidden layer (4 D in CLIP).</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 2048;

    /// <summary><c>projection_dim</c>: width of the joint text-image space (used by <see cref="ClipModel"/>'s projections, not by the text model).</summary>
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;

    /// <summary><c>num_hidden_layers</c>: encoder layers (12 in CLIP ViT-B and SD 1.x).</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;

    /// <summary><c>num_attention_heads</c>: heads per self-attention; must divide <see cref="HiddenSize"/>.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 8;

    /// <summary><c>max_position_embeddings</c>: rows of the position embedding, the longest sequence T (77 in CLIP).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 77;

    /// <summary><c>hidden_act</c>: the MLP activation (<c>"quick_gelu"</c> in OpenAI CLIP).</summary>
    [JsonPropertyName("hidden_act")] public ClipActivation HiddenAct { get; init; } = ClipActivation.QuickGelu;

    /// <summary><c>layer_norm_eps</c>: epsilon of every LayerNorm.</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;

    /// <summary><c>attention_dropout</c>: dropout on the attention probabilities while training (0 in CLIP).</summary>
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }

    /// <summary><c>initializer_range</c>: std of the embeddings' normal initialisation (times <see cref="InitializerFactor"/>).</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;

    /// <summary><c>initializer_factor</c>: multiplies every initialisation std (1 except in transformers' tests).</summary>
    [JsonPropertyName("initializer_factor")] public double InitializerFactor { get; init; } = 1.0;

    /// <summary><c>pad_token_id</c>: the padding id (SD 1.x pads with eos; SD 2.x with 0). Not used by the forward.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;

    /// <summary><c>bos_token_id</c>: the start-of-text id. Not used by the forward.</summary>
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 49406;

    /// <summary>
    /// <c>eos_token_id</c>: the end-of-text id; the pooled state is taken at its first occurrence. The legacy value 2
    /// (configs written before transformers PR #24773) pools at argmax(input_ids) instead, as transformers 4.33 does.
    /// </summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 49407;

    /// <summary>
    /// A tiny model for tests (the shape of the conformance fixture): D = 32, 2 layers, 4 heads, F = 37, vocab 1000
    /// (bos 998, eos = pad 999), 77 positions, quick_gelu. 48k parameters.
    /// </summary>
    public static ClipTextConfig Tiny { get; } = new()
    {
        Architectures = [ClassName],
        ModelType = TypeName,
        VocabSize = 1000,
        HiddenSize = 32,
        IntermediateSize = 37,
        ProjectionDim = 32,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        MaxPositionEmbeddings = 77,
        PadTokenId = 999,
        BosTokenId = 998,
        EosTokenId = 999,
    };

    /// <summary>
    /// The text encoder of our 64px emoji model: D = 256, 4 layers, 4 heads (Dh = 64, CLIP's head width), F = 1024
    /// (4 D), 77 positions, vocab 4096 (bos 4094, eos = pad 4095, CLIP's layout of the special ids at the end),
    /// quick_gelu. 4.23M parameters (1.05M of them the token embedding).
    /// </summary>
    /// <remarks>
    /// Why: emoji captions are short ("grinning face with big eyes", 5-15 tokens) and their vocabulary is a few
    /// thousand words, so a 4096-token BPE (our own, trained on the captions) keeps nearly every word whole, and a
    /// 1.0M-parameter embedding table instead of SD's 38M. Width 256 is the U-Net's cross-attention width: enough for
    /// captions of this size, and cheap in every cross-attention layer. Four layers give the causal encoder room to
    /// compose modifiers ("with", skin tones, "-ish") without dominating the training budget. 77 positions keep the
    /// CLIP tokenizer's <c>model_max_length</c> and SD's [B, 77, D] contract, so any CLIP tokenizer folder and
    /// diffusers pipeline code fit unchanged; the extra padding costs little (the encoder runs once per image, and
    /// cross-attention over 77 keys at 16x16 latents is a small part of a U-Net step).
    /// </remarks>
    public static ClipTextConfig Default { get; } = new()
    {
        Architectures = [ClassName],
        ModelType = TypeName,
        VocabSize = 4096,
        HiddenSize = 256,
        IntermediateSize = 1024,
        ProjectionDim = 256,
        NumHiddenLayers = 4,
        NumAttentionHeads = 4,
        MaxPositionEmbeddings = 77,
        PadTokenId = 4095,
        BosTokenId = 4094,
        EosTokenId = 4095,
    };

    /// <summary>Width of one attention head, D / heads.</summary>
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Checks every value a model needs; the message names the key, the value found and what is expected.</summary>
    /// <param name="sourceName">Names the config in the error (a file path, or the record's name).</param>
    /// <exception cref="ConfigException">A value is out of range.</exception>
    public void Validate(string sourceName = nameof(ClipTextConfig))
    {
        Positive(sourceName, "vocab_size", VocabSize);
        Positive(sourceName, "hidden_size", HiddenSize);
        Positive(sourceName, "intermediate_size", IntermediateSize);
        Positive(sourceName, "projection_dim", ProjectionDim);
        Positive(sourceName, "num_hidden_layers", NumHiddenLayers);
        Positive(sourceName, "num_attention_heads", NumAttentionHeads);
        Positive(sourceName, "max_position_embeddings", MaxPositionEmbeddings);
        ConfigLimits.AtMost(sourceName, "vocab_size", VocabSize, ConfigLimits.MaxVocabulary);
        ConfigLimits.AtMost(sourceName, "hidden_size", HiddenSize, ConfigLimits.MaxWidth);
        ConfigLimits.AtMost(sourceName, "intermediate_size", IntermediateSize, ConfigLimits.MaxIntermediate);
        ConfigLimits.AtMost(sourceName, "projection_dim", ProjectionDim, ConfigLimits.MaxWidth);
        ConfigLimits.AtMost(sourceName, "num_hidden_layers", NumHiddenLayers, ConfigLimits.MaxHiddenLayers);
        ConfigLimits.AtMost(sourceName, "num_attention_heads", NumAttentionHeads, ConfigLimits.MaxHeads);
        ConfigLimits.AtMost(sourceName, "max_position_embeddings", MaxPositionEmbeddings, ConfigLimits.MaxPositions);
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ConfigException(sourceName, "hidden_size",
                $"{HiddenSize} is not divisible by num_attention_heads = {NumAttentionHeads}; expected a multiple of it.");
        if (!Enum.IsDefined(HiddenAct))
            throw new ConfigException(sourceName, "hidden_act", $"{HiddenAct} is not a known activation; expected quick_gelu or gelu.");
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps))
            throw new ConfigException(sourceName, "layer_norm_eps", $"{LayerNormEps} is not a positive finite number.");
        if (!(AttentionDropout >= 0 && AttentionDropout < 1))
            throw new ConfigException(sourceName, "attention_dropout", $"{AttentionDropout} is not in [0, 1).");
        if (!(InitializerRange > 0) || double.IsInfinity(InitializerRange))
            throw new ConfigException(sourceName, "initializer_range", $"{InitializerRange} is not a positive finite number.");
        if (!(InitializerFactor > 0) || double.IsInfinity(InitializerFactor))
            throw new ConfigException(sourceName, "initializer_factor", $"{InitializerFactor} is not a positive finite number.");
        foreach (var (key, id) in new[] { ("bos_token_id", BosTokenId), ("eos_token_id", EosTokenId), ("pad_token_id", PadTokenId) })
            if (id < 0 || id >= VocabSize)
                throw new ConfigException(sourceName, key, $"{id} is outside the vocabulary; expected 0 <= {key} < vocab_size = {VocabSize}.");
    }

    static void Positive(string sourceName, string key, int value)
    {
        if (value <= 0)
            throw new ConfigException(sourceName, key, $"{value} is not positive; expected an integer >= 1.");
    }
}
