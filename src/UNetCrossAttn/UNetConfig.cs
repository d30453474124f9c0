using System.Text.Json.Serialization;
using Latent.Core.Config;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> config (a U-Net folder's <c>config.json</c>), with diffusers' key names and
/// <c>__init__</c> defaults (SD 1.x's layout, except <c>cross_attention_dim</c>, whose diffusers default is 1280).
/// </summary>
/// <remarks>
/// <para>The U-Net has one level per entry of <see cref="BlockOutChannels"/>; every level but the last halves H and W,
/// so latents must have sides divisible by <c>2^(levels - 1)</c>.</para>
/// <para>Heads: diffusers 0.21 reads <c>num_heads = num_attention_heads or attention_head_dim</c>, so in SD 1.x configs
/// <c>attention_head_dim: 8</c> is the NUMBER of heads and each head has width <c>channels / heads</c>
/// (see <see cref="HeadsPerBlock"/>).</para>
/// <para>Keys for options this port does not implement (class and addition embeddings, timestep conditioning,
/// dual cross attention, ...) are declared so that <see cref="Validate"/> can reject a non-default value with a clear
/// message rather than silently ignoring it.</para>
/// </remarks>
public sealed record UNetConfig : DiffusersConfig
{
    /// <summary>The class name diffusers records in <c>_class_name</c>.</summary>
    public const string ClassNameValue = "UNet2DConditionModel";

    /// <summary>Down block: ResNets then a stride-2 conv, no attention.</summary>
    public const string DownBlock = "DownBlock2D";
    /// <summary>Down block: ResNet + Transformer2DModel pairs, then a stride-2 conv.</summary>
    public const string CrossAttnDownBlock = "CrossAttnDownBlock2D";
    /// <summary>Up block: ResNets over concatenated skips, then nearest 2x + conv.</summary>
    public const string UpBlock = "UpBlock2D";
    /// <summary>Up block: ResNet + Transformer2DModel pairs over concatenated skips, then nearest 2x + conv.</summary>
    public const string CrossAttnUpBlock = "CrossAttnUpBlock2D";
    /// <summary>The only mid block supported: ResNet, then (Transformer2DModel, ResNet) pairs.</summary>
    public const string MidBlockCrossAttn = "UNetMidBlock2DCrossAttn";

    /// <summary><c>sample_size</c>: the latent side the model is made for (informational; 64 in SD 1.x, 16 here).</summary>
    [JsonPropertyName("sample_size")] public int? SampleSize { get; init; }

    /// <summary><c>in_channels</c>: latent channels of the input (4, the VAE's latent channels).</summary>
    [JsonPropertyName("in_channels")] public int InChannels { get; init; } = 4;

    /// <summary><c>out_channels</c>: channels of the prediction (4: noise or v for each latent channel).</summary>
    [JsonPropertyName("out_channels")] public int OutChannels { get; init; } = 4;

    /// <summary><c>center_input_sample</c>: whether the input is mapped by <c>2x - 1</c> first (false in SD).</summary>
    [JsonPropertyName("center_input_sample")] public bool CenterInputSample { get; init; }

    /// <summary><c>flip_sin_to_cos</c>: the timestep embedding is [cos, sin] when true (SD), [sin, cos] otherwise.</summary>
    [JsonPropertyName("flip_sin_to_cos")] public bool FlipSinToCos { get; init; } = true;

    /// <summary><c>freq_shift</c>: diffusers' downscale_freq_shift; frequencies are exp(-ln(10000) i / (half - shift)) (0 in SD).</summary>
    [JsonPropertyName("freq_shift")] public int FreqShift { get; init; }

    /// <summary><c>down_block_types</c>: <c>"CrossAttnDownBlock2D"</c> or <c>"DownBlock2D"</c> per level, from full resolution down.</summary>
    [JsonPropertyName("down_block_types")] public string[] DownBlockTypes { get; init; } = [CrossAttnDownBlock, CrossAttnDownBlock, CrossAttnDownBlock, DownBlock];

    /// <summary><c>mid_block_type</c>: only <c>"UNetMidBlock2DCrossAttn"</c>.</summary>
    [JsonPropertyName("mid_block_type")] public string? MidBlockType { get; init; } = MidBlockCrossAttn;

    /// <summary><c>up_block_types</c>: <c>"CrossAttnUpBlock2D"</c> or <c>"UpBlock2D"</c> per level, from the lowest resolution up.</summary>
    [JsonPropertyName("up_block_types")] public string[] UpBlockTypes { get; init; } = [UpBlock, CrossAttnUpBlock, CrossAttnUpBlock, CrossAttnUpBlock];

    /// <summary><c>only_cross_attention</c>: when true, a transformer block's first attention also attends to the text (false in SD).</summary>
    [JsonPropertyName("only_cross_attention")] public bool OnlyCrossAttention { get; init; }

    /// <summary><c>block_out_channels</c>: channels per level (SD 1.x: 320, 640, 1280, 1280); multiples of <see cref="NormNumGroups"/>.</summary>
    [JsonPropertyName("block_out_channels")] public int[] BlockOutChannels { get; init; } = [320, 640, 1280, 1280];

    /// <summary><c>layers_per_block</c>: ResNets per down level (int or per-level list); each up level has one more (SD: 2).</summary>
    [JsonPropertyName("layers_per_block")] public IntOrList LayersPerBlock { get; init; } = 2;

    /// <summary><c>downsample_padding</c>: padding of the stride-2 downsample convs (1 in SD).</summary>
    [JsonPropertyName("downsample_padding")] public int DownsamplePadding { get; init; } = 1;

    /// <summary><c>mid_block_scale_factor</c>: the mid block's ResNet outputs are divided by this (1 in SD).</summary>
    [JsonPropertyName("mid_block_scale_factor")] public double MidBlockScaleFactor { get; init; } = 1.0;

    /// <summary><c>dropout</c>: only 0 is supported (SD's value; attention dropout is not implemented).</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; }

    /// <summary><c>act_fn</c>: only <c>"silu"</c> (alias <c>"swish"</c>), as in SD.</summary>
    [JsonPropertyName("act_fn")] public string ActFn { get; init; } = "silu";

    /// <summary><c>norm_num_groups</c>: GroupNorm groups in ResNets, transformers and the output norm (32 in SD).</summary>
    [JsonPropertyName("norm_num_groups")] public int NormNumGroups { get; init; } = 32;

    /// <summary><c>norm_eps</c>: epsilon of the ResNet and output GroupNorms (1e-5 in SD; the transformers' own norm uses 1e-6).</summary>
    [JsonPropertyName("norm_eps")] public double NormEps { get; init; } = 1e-5;

    /// <summary><c>cross_attention_dim</c>: width D of the text states (int or per-level list; SD 1.x: 768, CLIP ViT-L's width).</summary>
    [JsonPropertyName("cross_attention_dim")] public IntOrList CrossAttentionDim { get; init; } = 1280;

    /// <summary><c>transformer_layers_per_block</c>: BasicTransformerBlocks per Transformer2DModel (int or per-level list; 1 in SD).</summary>
    [JsonPropertyName("transformer_layers_per_block")] public IntOrList TransformerLayersPerBlock { get; init; } = 1;

    /// <summary><c>attention_head_dim</c>: despite its name, the number of heads when <see cref="NumAttentionHeads"/> is null (int or per-level list; SD 1.x: 8).</summary>
    [JsonPropertyName("attention_head_dim")] public IntOrList? AttentionHeadDim { get; init; } = 8;

    /// <summary><c>num_attention_heads</c>: heads per level (int or list); wins over <see cref="AttentionHeadDim"/> when given.</summary>
    [JsonPropertyName("num_attention_heads")] public IntOrList? NumAttentionHeads { get; init; }

    /// <summary><c>use_linear_projection</c>: the transformers' proj_in/proj_out are Linear layers (SD 2.x) instead of 1x1 convs (SD 1.x).</summary>
    [JsonPropertyName("use_linear_projection")] public bool UseLinearProjection { get; init; }

    /// <summary><c>upcast_attention</c>: compute attention scores and softmax in float32 when running in half precision (SD 2.1).</summary>
    [JsonPropertyName("upcast_attention")] public bool UpcastAttention { get; init; }

    /// <summary><c>conv_in_kernel</c>: kernel of conv_in (odd; 3 in SD).</summary>
    [JsonPropertyName("conv_in_kernel")] public int ConvInKernel { get; init; } = 3;

    /// <summary><c>conv_out_kernel</c>: kernel of conv_out (odd; 3 in SD).</summary>
    [JsonPropertyName("conv_out_kernel")] public int ConvOutKernel { get; init; } = 3;

    /// <summary><c>resnet_out_scale_factor</c>: the ResNets' outputs (outside the mid block) are divided by this (1 in SD).</summary>
    [JsonPropertyName("resnet_out_scale_factor")] public double ResnetOutScaleFactor { get; init; } = 1.0;

    /// <summary><c>time_embedding_dim</c>: width of the time embedding; null means 4 * block_out_channels[0] (SD: 1280).</summary>
    [JsonPropertyName("time_embedding_dim")] public int? TimeEmbeddingDim { get; init; }

    /// <summary><c>time_embedding_type</c>: only <c>"positional"</c> (sinusoidal).</summary>
    [JsonPropertyName("time_embedding_type")] public string TimeEmbeddingType { get; init; } = "positional";

    /// <summary><c>resnet_time_scale_shift</c>: only <c>"default"</c> (the time embedding is added, not a scale-shift).</summary>
    [JsonPropertyName("resnet_time_scale_shift")] public string ResnetTimeScaleShift { get; init; } = "default";

    /// <summary><c>attention_type</c>: only <c>"default"</c>.</summary>
    [JsonPropertyName("attention_type")] public string AttentionType { get; init; } = "default";

    /// <summary><c>class_embed_type</c>: not supported (must be null).</summary>
    [JsonPropertyName("class_embed_type")] public string? ClassEmbedType { get; init; }

    /// <summary><c>num_class_embeds</c>: not supported (must be null).</summary>
    [JsonPropertyName("num_class_embeds")] public int? NumClassEmbeds { get; init; }

    /// <summary><c>class_embeddings_concat</c>: not supported (must be false).</summary>
    [JsonPropertyName("class_embeddings_concat")] public bool ClassEmbeddingsConcat { get; init; }

    /// <summary><c>projection_class_embeddings_input_dim</c>: only used with class embeddings; kept as read.</summary>
    [JsonPropertyName("projection_class_embeddings_input_dim")] public int? ProjectionClassEmbeddingsInputDim { get; init; }

    /// <summary><c>addition_embed_type</c>: not supported (must be null; SDXL's "text_time").</summary>
    [JsonPropertyName("addition_embed_type")] public string? AdditionEmbedType { get; init; }

    /// <summary><c>addition_embed_type_num_heads</c>: only used with addition embeddings; kept as read.</summary>
    [JsonPropertyName("addition_embed_type_num_heads")] public int AdditionEmbedTypeNumHeads { get; init; } = 64;

    /// <summary><c>addition_time_embed_dim</c>: only used with addition embeddings; kept as read.</summary>
    [JsonPropertyName("addition_time_embed_dim")] public int? AdditionTimeEmbedDim { get; init; }

    /// <summary><c>encoder_hid_dim</c>: not supported (must be null).</summary>
    [JsonPropertyName("encoder_hid_dim")] public int? EncoderHidDim { get; init; }

    /// <summary><c>encoder_hid_dim_type</c>: not supported (must be null).</summary>
    [JsonPropertyName("encoder_hid_dim_type")] public string? EncoderHidDimType { get; init; }

    /// <summary><c>time_cond_proj_dim</c>: not supported (must be null; LCM's guidance embedding).</summary>
    [JsonPropertyName("time_cond_proj_dim")] public int? TimeCondProjDim { get; init; }

    /// <summary><c>time_embedding_act_fn</c>: not supported (must be null).</summary>
    [JsonPropertyName("time_embedding_act_fn")] public string? TimeEmbeddingActFn { get; init; }

    /// <summary><c>timestep_post_act</c>: not supported (must be null).</summary>
    [JsonPropertyName("timestep_post_act")] public string? TimestepPostAct { get; init; }

    /// <summary><c>dual_cross_attention</c>: not supported (must be false).</summary>
    [JsonPropertyName("dual_cross_attention")] public bool DualCrossAttention { get; init; }

    /// <summary><c>resnet_skip_time_act</c>: not supported (must be false).</summary>
    [JsonPropertyName("resnet_skip_time_act")] public bool ResnetSkipTimeAct { get; init; }

    /// <summary><c>cross_attention_norm</c>: not supported (must be null).</summary>
    [JsonPropertyName("cross_attention_norm")] public string? CrossAttentionNorm { get; init; }

    /// <summary><c>mid_block_only_cross_attention</c>: must be null or equal to <see cref="OnlyCrossAttention"/>.</summary>
    [JsonPropertyName("mid_block_only_cross_attention")] public bool? MidBlockOnlyCrossAttention { get; init; }

    /// <summary>
    /// A U-Net for fast tests: two levels (32, 64 channels; cross attention in the second), one ResNet per level,
    /// 4 heads, 8 GroupNorm groups, text width 16. About 0.3M parameters; runs on 8x8 latents.
    /// </summary>
    public static UNetConfig Tiny { get; } = new()
    {
        SampleSize = 8,
        DownBlockTypes = [DownBlock, CrossAttnDownBlock],
        UpBlockTypes = [CrossAttnUpBlock, UpBlock],
        BlockOutChannels = [32, 64],
        LayersPerBlock = 1,
        NormNumGroups = 8,
        CrossAttentionDim = 16,
        AttentionHeadDim = 4,
    };

    /// <summary>
    /// Our 64px emoji model: SD 1.x's layout (three cross-attention levels then a plain one, two ResNets per level,
    /// one transformer layer, 1x1-conv projections, 32 GroupNorm groups) scaled to 22.6M parameters for 16x16x4
    /// latents and a 256-wide text encoder.
    /// </summary>
    /// <remarks>
    /// Levels run at 16, 8, 4 and 2 pixels with 64, 128, 192, 192 channels (SD: 320, 640, 1280, 1280 at 64..8), so
    /// attention sees 256, 64 and 16 positions. The two lowest levels are kept at 192 rather than SD's 4x ratio
    /// (256): at 2x2 and 4x4 they carry little spatial detail, and 256 would give 35M parameters, over the 20-25M
    /// budget; halving the ResNets per level instead (23.6M) would break SD's depth. Heads [2, 4, 6, 6] keep every
    /// head 32 wide, as SD 2.x keeps its heads 64 wide with [5, 10, 20, 20].
    /// </remarks>
    public static UNetConfig Default { get; } = new()
    {
        SampleSize = 16,
        BlockOutChannels = [64, 128, 192, 192],
        CrossAttentionDim = 256,
        AttentionHeadDim = new[] { 2, 4, 6, 6 },
    };

    /// <summary>Heads of each level's transformers: <c>num_attention_heads</c>, else <c>attention_head_dim</c> (diffusers 0.21's reading).</summary>
    [JsonIgnore]
    public int[] HeadsPerBlock => (NumAttentionHeads ?? AttentionHeadDim ?? throw new InvalidOperationException(
        "attention_head_dim and num_attention_heads are both null; expected the number of heads in one of them")).PerBlock(BlockOutChannels.Length);

    /// <summary>Width of the time embedding: <c>time_embedding_dim</c>, else 4 * block_out_channels[0].</summary>
    [JsonIgnore]
    public int TimeEmbedDim => TimeEmbeddingDim ?? BlockOutChannels[0] * 4;

    /// <summary>Checks that this port can build the described U-Net; throws on the first problem.</summary>
    /// <param name="sourceName">Names the config in the message (its file path when read from one).</param>
    /// <exception cref="ConfigException">A value is out of range, inconsistent, or selects an option this port does not implement.</exception>
    public void Validate(string sourceName = nameof(UNetConfig))
    {
        Positive(sourceName, "in_channels", InChannels);
        Positive(sourceName, "out_channels", OutChannels);
        Positive(sourceName, "norm_num_groups", NormNumGroups);
        if (BlockOutChannels is null || BlockOutChannels.Length == 0)
            throw new ConfigException(sourceName, "block_out_channels", "is empty; expected at least one level.");
        int levels = BlockOutChannels.Length;
        ConfigLimits.AtMost(sourceName, "in_channels", InChannels, ConfigLimits.MaxImageChannels);
        ConfigLimits.AtMost(sourceName, "out_channels", OutChannels, ConfigLimits.MaxImageChannels);
        ConfigLimits.AtMost(sourceName, "block_out_channels", levels, ConfigLimits.MaxLevels);
        ConfigLimits.AllAtMost(sourceName, "block_out_channels", BlockOutChannels, ConfigLimits.MaxWidth);
        foreach (int c in BlockOutChannels)
            if (c <= 0 || c % NormNumGroups != 0)
                throw new ConfigException(sourceName, "block_out_channels",
                    $"[{string.Join(", ", BlockOutChannels)}] holds {c}; expected positive multiples of norm_num_groups = {NormNumGroups}.");
        CheckTypes(sourceName, "down_block_types", DownBlockTypes, levels, DownBlock, CrossAttnDownBlock);
        CheckTypes(sourceName, "up_block_types", UpBlockTypes, levels, UpBlock, CrossAttnUpBlock);
        if (MidBlockType != MidBlockCrossAttn)
            throw new ConfigException(sourceName, "mid_block_type", $"{Show(MidBlockType)} is not supported; expected \"{MidBlockCrossAttn}\".");

        int[] heads = PerBlock(sourceName, NumAttentionHeads is null ? "attention_head_dim" : "num_attention_heads",
            NumAttentionHeads ?? AttentionHeadDim ?? throw new ConfigException(sourceName, "attention_head_dim",
                "and num_attention_heads are both null; expected the number of heads in one of them."), levels);
        int[] crossDims = PerBlock(sourceName, "cross_attention_dim", CrossAttentionDim, levels);
        ConfigLimits.AllAtMost(sourceName, "layers_per_block", PerBlock(sourceName, "layers_per_block", LayersPerBlock, levels), ConfigLimits.MaxLayersPerBlock);
        ConfigLimits.AllAtMost(sourceName, "transformer_layers_per_block",
            PerBlock(sourceName, "transformer_layers_per_block", TransformerLayersPerBlock, levels), ConfigLimits.MaxLayersPerBlock);
        ConfigLimits.AllAtMost(sourceName, "cross_attention_dim", crossDims, ConfigLimits.MaxWidth);
        if (SampleSize is int sample)
        {
            Positive(sourceName, "sample_size", sample);
            ConfigLimits.AtMost(sourceName, "sample_size", sample, ConfigLimits.MaxSampleSize);
        }
        for (int i = 0; i < levels; i++)
        {
            if (heads[i] <= 0 || BlockOutChannels[i] % heads[i] != 0)
                throw new ConfigException(sourceName, NumAttentionHeads is null ? "attention_head_dim" : "num_attention_heads",
                    $"level {i} has {heads[i]} heads for {BlockOutChannels[i]} channels; expected a positive divisor of the channels (in SD 1.x configs attention_head_dim is the number of heads).");
            if (crossDims[i] <= 0)
                throw new ConfigException(sourceName, "cross_attention_dim", $"level {i} has {crossDims[i]}; expected a positive width.");
        }
        ConfigLimits.AtMost(sourceName, "conv_in_kernel", ConvInKernel, ConfigLimits.MaxKernel);
        ConfigLimits.AtMost(sourceName, "conv_out_kernel", ConvOutKernel, ConfigLimits.MaxKernel);
        ConfigLimits.AtMost(sourceName, "time_embedding_dim", TimeEmbedDim, ConfigLimits.MaxWidth * 4);
        if (ConvInKernel <= 0 || ConvInKernel % 2 == 0)
            throw new ConfigException(sourceName, "conv_in_kernel", $"{ConvInKernel}; expected a positive odd kernel size.");
        if (ConvOutKernel <= 0 || ConvOutKernel % 2 == 0)
            throw new ConfigException(sourceName, "conv_out_kernel", $"{ConvOutKernel}; expected a positive odd kernel size.");
        if (TimeEmbedDim <= 0)
            throw new ConfigException(sourceName, "time_embedding_dim", $"{TimeEmbedDim}; expected a positive width.");
        if (BlockOutChannels[0] % 2 != 0)
            throw new ConfigException(sourceName, "block_out_channels", $"block_out_channels[0] = {BlockOutChannels[0]} must be even (it is the sinusoidal timestep width).");
        if (ActFn is not ("silu" or "swish"))
            throw new ConfigException(sourceName, "act_fn", $"\"{ActFn}\" is not supported; expected \"silu\" (or its alias \"swish\").");
        if (Dropout != 0)
            throw new ConfigException(sourceName, "dropout", $"{Dropout} is not supported; expected 0.");
        if (!(MidBlockScaleFactor > 0) || !(ResnetOutScaleFactor > 0))
            throw new ConfigException(sourceName, MidBlockScaleFactor > 0 ? "resnet_out_scale_factor" : "mid_block_scale_factor",
                $"mid {MidBlockScaleFactor}, resnet {ResnetOutScaleFactor}; expected positive scale factors.");
        if (MidBlockOnlyCrossAttention is bool mid && mid != OnlyCrossAttention)
            throw new ConfigException(sourceName, "mid_block_only_cross_attention",
                $"{mid.ToString().ToLowerInvariant()} differs from only_cross_attention = {OnlyCrossAttention.ToString().ToLowerInvariant()}; expected null or the same value.");

        Unsupported(sourceName, "time_embedding_type", TimeEmbeddingType, "positional");
        Unsupported(sourceName, "resnet_time_scale_shift", ResnetTimeScaleShift, "default");
        Unsupported(sourceName, "attention_type", AttentionType, "default");
        Unsupported(sourceName, "class_embed_type", ClassEmbedType, null);
        Unsupported(sourceName, "num_class_embeds", NumClassEmbeds?.ToString(), null);
        Unsupported(sourceName, "addition_embed_type", AdditionEmbedType, null);
        Unsupported(sourceName, "encoder_hid_dim", EncoderHidDim?.ToString(), null);
        Unsupported(sourceName, "encoder_hid_dim_type", EncoderHidDimType, null);
        Unsupported(sourceName, "time_cond_proj_dim", TimeCondProjDim?.ToString(), null);
        Unsupported(sourceName, "time_embedding_act_fn", TimeEmbeddingActFn, null);
        Unsupported(sourceName, "timestep_post_act", TimestepPostAct, null);
        Unsupported(sourceName, "cross_attention_norm", CrossAttentionNorm, null);
        if (ClassEmbeddingsConcat) throw new ConfigException(sourceName, "class_embeddings_concat", "true is not supported; expected false.");
        if (DualCrossAttention) throw new ConfigException(sourceName, "dual_cross_attention", "true is not supported; expected false.");
        if (ResnetSkipTimeAct) throw new ConfigException(sourceName, "resnet_skip_time_act", "true is not supported; expected false.");
    }

    private static void Positive(string sourceName, string key, int value)
    {
        if (value <= 0) throw new ConfigException(sourceName, key, $"{value}; expected a positive integer.");
    }

    private static int[] PerBlock(string sourceName, string key, IntOrList value, int levels)
    {
        if (value.IsList && value.Values.Length != levels)
            throw new ConfigException(sourceName, key, $"{value} has {value.Values.Length} entries; expected one per level ({levels}) or a single integer.");
        int[] values = value.PerBlock(levels);
        if (values.Any(v => v <= 0))
            throw new ConfigException(sourceName, key, $"{value}; expected positive integers.");
        return values;
    }

    private static void CheckTypes(string sourceName, string key, string[]? types, int levels, params string[] allowed)
    {
        if (types is null || types.Length != levels)
            throw new ConfigException(sourceName, key,
                $"has {types?.Length ?? 0} entries; expected one per entry of block_out_channels ({levels}).");
        foreach (string type in types)
            if (!allowed.Contains(type))
                throw new ConfigException(sourceName, key,
                    $"\"{type}\" is not supported; expected {string.Join(" or ", allowed.Select(a => $"\"{a}\""))}.");
    }

    private static void Unsupported(string sourceName, string key, string? value, string? expected)
    {
        if (value != expected)
            throw new ConfigException(sourceName, key, $"{Show(value)} is not supported by this port; expected {Show(expected)}.");
    }

    private static string Show(string? value) => value is null ? "null" : $"\"{value}\"";
}
