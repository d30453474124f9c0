using Latent.Core.Onnx;
using Latent.Core.Config;
using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>
/// transformers' <c>CLIPTextModel</c>: the text encoder of Stable Diffusion. Token ids [B, T] in, token states
/// [B, T, D] out (what the U-Net cross-attends to), plus the pooled state at each row's first eos.
/// </summary>
/// <remarks>
/// <para>Architecture (transformers 4.33, <c>modeling_clip.py</c>): <c>h_0 = token_embedding[ids] + position_embedding[0..T)</c>;
/// for each layer <c>h = h + self_attn(layer_norm1(h))</c> with a causal mask, <c>h = h + mlp(layer_norm2(h))</c>;
/// <c>last_hidden_state = final_layer_norm(h_N)</c>; <c>pooler_output = last_hidden_state[b, first eos of row b]</c>.</para>
/// <para>Every key is prefixed <c>text_model.</c>: <c>text_model.embeddings.token_embedding.weight</c>,
/// <c>text_model.encoder.layers.0.self_attn.q_proj.weight</c>, ..., <c>text_model.final_layer_norm.weight</c>, so a
/// transformers folder loads strictly. Fresh weights follow transformers' <c>_init_weights</c> and draw from torch's
/// global generator (seed it with <c>torch.manual_seed</c> for reproducible weights).</para>
/// </remarks>
public sealed class ClipTextModel : nn.Module<Tensor, Tensor>
{
    /// <summary>The weights file of a transformers folder.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The config file of a transformers folder.</summary>
    public const string ConfigFileName = PretrainedFolder.ConfigFileName;

    /// <summary>The buffer many CLIP checkpoints carry (I64 [1, P], arange(P)); transformers 4.33 no longer saves it.</summary>
    public const string PositionIdsKey = "text_model.embeddings.position_ids";

    private readonly ClipTextTransformer text_model;

    /// <summary>Creates a model with freshly initialised weights.</summary>
    /// <param name="config">The config; validated here.</param>
    /// <exception cref="ConfigException">A config value is out of range.</exception>
    public ClipTextModel(ClipTextConfig config) : this(Validated(config), null) { }

    /// <summary>Wraps an existing text transformer (shared weights), e.g. the text tower of a <see cref="ClipModel"/>.</summary>
    internal ClipTextModel(ClipTextConfig config, ClipTextTransformer? textModel) : base(nameof(ClipTextModel))
    {
        Config = config;
        text_model = textModel ?? new ClipTextTransformer(config);
        RegisterComponents();
    }

    /// <summary>The config the model was built from.</summary>
    public ClipTextConfig Config { get; }

    /// <summary>
    /// The key map for checkpoints: drops <see cref="PositionIdsKey"/> (a constant arange the model recomputes) and keeps
    /// every other key as it is, so loading stays strict for everything else.
    /// </summary>
    /// <param name="key">A key of the weights file.</param>
    /// <returns>The module key, or null to drop the entry.</returns>
    public static string? MapCheckpointKey(string key) => key == PositionIdsKey ? null : key;

    /// <summary>Strict loading with <see cref="MapCheckpointKey"/>.</summary>
    public static LoadOptions CheckpointLoadOptions { get; } = new() { MapKey = MapCheckpointKey };

    /// <summary>The last hidden state, what the U-Net cross-attends to.</summary>
    /// <param name="inputIds">[B, T] int64 token ids; 1 ≤ T ≤ max_position_embeddings, ids in [0, vocab_size).</param>
    /// <returns>[B, T, D].</returns>
    /// <exception cref="ArgumentException"><paramref name="inputIds"/> has the wrong rank, dtype, length or an id outside the vocabulary.</exception>
    public override Tensor forward(Tensor inputIds)
    {
        CheckInputIds(inputIds, Config);
        return text_model.forward(inputIds);
    }

    /// <summary>
    /// Writes <see cref="forward"/> (eval mode, float32) as an ONNX model: input <c>input_ids</c> [batch, sequence] (int64),
    /// output <c>last_hidden_state</c> [batch, sequence, D], the names of transformers' and diffusers' ONNX exports.
    /// </summary>
    /// <remarks>Each module writes its own nodes (<c>ExportOnnx</c> beside its <c>forward</c>); a test compares ONNX Runtime's
    /// output with <see cref="forward"/>. Ids are not checked inside the graph: check them with <see cref="CheckInputIds"/>.</remarks>
    /// <returns>The bytes of a .onnx file.</returns>
    public byte[] ExportOnnx()
    {
        // input_ids: [B, T] -> last_hidden_state: [B, T, D]
        var g = new OnnxGraph("text_encoder");
        string ids = g.Int64Input("input_ids", "batch", "sequence");
        string h = text_model.ExportOnnx(g, "text_model", ids, Config.MaxPositionEmbeddings);
        g.Output(h, "last_hidden_state", "batch", "sequence", (long)Config.HiddenSize);
        return g.ToModel();
    }

    /// <summary>Runs the model and returns transformers' outputs.</summary>
    /// <param name="inputIds">[B, T] int64 token ids; 1 ≤ T ≤ max_position_embeddings, ids in [0, vocab_size).</param>
    /// <param name="outputHiddenStates">Whether to return the N + 1 hidden states (embeddings and every layer's output).</param>
    /// <returns>The outputs; the caller disposes them.</returns>
    /// <exception cref="ArgumentException"><paramref name="inputIds"/> has the wrong rank, dtype, length or an id outside the vocabulary.</exception>
    public ClipTextOutput Encode(Tensor inputIds, bool outputHiddenStates = false)
    {
        CheckInputIds(inputIds, Config);
        return text_model.Encode(inputIds, outputHiddenStates);
    }

    /// <summary>Applies the final LayerNorm, e.g. to the penultimate hidden state (diffusers' <c>clip_skip</c>).</summary>
    /// <param name="hidden">[B, T, D].</param>
    /// <returns>[B, T, D].</returns>
    public Tensor FinalLayerNorm(Tensor hidden) => text_model.FinalLayerNorm(hidden);

    /// <summary>The pooling position of each row: the first eos (argmax(input_ids) for the legacy eos id 2).</summary>
    /// <param name="inputIds">[B, T] int64.</param>
    /// <returns>[B] int64.</returns>
    public Tensor PoolingPositions(Tensor inputIds)
    {
        CheckInputIds(inputIds, Config);
        return text_model.PoolingPositions(inputIds);
    }

    /// <summary>
    /// Loads a transformers folder: <c>config.json</c> (must describe a CLIPTextModel when it names one) and
    /// <c>model.safetensors</c>, strictly, with <see cref="MapCheckpointKey"/> (position ids present or absent).
    /// </summary>
    /// <param name="directory">The folder, e.g. <c>text_encoder/</c> of a diffusers pipeline.</param>
    /// <returns>The model, float32 on the CPU, in evaluation mode.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="ConfigException">The config is unreadable, of another class, or out of range.</exception>
    /// <exception cref="StateDictMismatchException">A weight is missing, unexpected or mis-shaped.</exception>
    public static ClipTextModel FromPretrained(string directory) =>
        PretrainedFolder.Load<ClipTextConfig, ClipTextModel>(directory, WeightsFileName, ClipTextConfig.ClassName,
            (config, source) => config.Validate(source), config => new ClipTextModel(config, null), CheckpointLoadOptions);

    /// <summary>
    /// Writes <c>model.safetensors</c> (every weight as <paramref name="dtype"/>, no position ids, as transformers 4.33)
    /// and then <c>config.json</c> (with <c>architectures</c>, <c>model_type</c> and <c>torch_dtype</c>), each atomically.
    /// </summary>
    /// <param name="directory">The folder; created when missing.</param>
    /// <param name="dtype">Float32, Float16 or BFloat16.</param>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not a floating type we save.</exception>
    public void SavePretrained(string directory, ScalarType dtype = ScalarType.Float32) =>
        PretrainedFolder.Save(this, directory, WeightsFileName,
            Config with { Architectures = [ClipTextConfig.ClassName], ModelType = ClipTextConfig.TypeName, TorchDtype = PretrainedFolder.DtypeName(dtype) },
            dtype);

    /// <summary>Checks token ids against <paramref name="config"/>: [B, T] int64, 1 ≤ T ≤ P, ids in [0, V) (as <see cref="forward"/> does; for other engines that run this model).</summary>
    /// <param name="inputIds">The ids.</param>
    /// <param name="config">The model's config.</param>
    /// <exception cref="ArgumentException">The ids have the wrong rank, dtype, length or an id outside the vocabulary.</exception>
    public static void CheckInputIds(Tensor inputIds, ClipTextConfig config)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        if (inputIds.dim() != 2)
            throw new ArgumentException(
                $"input_ids must be [B, T]; got shape [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        if (inputIds.dtype != ScalarType.Int64)
            throw new ArgumentException($"input_ids must be Int64; got {inputIds.dtype}.", nameof(inputIds));
        long t = inputIds.shape[1];
        if (t < 1 || t > config.MaxPositionEmbeddings || inputIds.shape[0] < 1)
            throw new ArgumentException(
                $"input_ids has shape [{string.Join(", ", inputIds.shape)}]; expected B ≥ 1 and 1 ≤ T ≤ max_position_embeddings = {config.MaxPositionEmbeddings}.",
                nameof(inputIds));
        using var minTensor = inputIds.min();
        using var maxTensor = inputIds.max();
        long min = minTensor.item<long>(), max = maxTensor.item<long>();
        if (min < 0 || max >= config.VocabSize)
            throw new ArgumentException(
                $"input_ids holds ids in [{min}, {max}]; expected ids in [0, vocab_size = {config.VocabSize}).", nameof(inputIds));
    }

    static ClipTextConfig Validated(ClipTextConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return config;
    }
}
