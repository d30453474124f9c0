using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;
using static Latent.Pipeline.SingleFile.LdmKeyMap;

namespace Latent.Pipeline.SingleFile;

/// <summary>The configs and block layout of a single file, read from its keys and shapes.</summary>
/// <param name="UNet">The U-Net's config (SD 1.x's where the keys cannot tell).</param>
/// <param name="Vae">The VAE's config.</param>
/// <param name="TextEncoder">The text encoder's config.</param>
/// <param name="Layout">The block structure that names the keys.</param>
public sealed record SingleFileConfigs(UNetConfig UNet, VaeConfig Vae, ClipTextConfig TextEncoder, LdmLayout Layout);

/// <summary>
/// Reads the architecture of an SD 1.x single file from its keys and shapes, and refuses files of other families with
/// one line that names the key that told.
/// </summary>
/// <remarks>
/// <para>What the keys tell: the U-Net's channels per level, layers per block, which levels have attention,
/// transformer depth, cross-attention width, linear or 1x1-conv projections, in and out channels; the VAE's channels,
/// layers and latent channels; CLIP's vocabulary, width, depth, MLP width and positions. What they cannot tell is taken
/// from SD 1.x (the values of <c>runwayml/stable-diffusion-v1-5</c>'s configs): 32 norm groups, U-Net
/// <c>attention_head_dim</c> 8, 64-pixel latents (512-pixel images), CLIP heads of 64 channels, the VAE's scaling factor
/// 0.18215, and the PNDM schedule of <see cref="Sd1Scheduler"/>.</para>
/// </remarks>
public static class SingleFileArchitecture
{
    /// <summary>SD 1.x's <c>scheduler_config.json</c>: PNDM (PLMS) on the scaled-linear schedule 0.00085 .. 0.012.</summary>
    public static SchedulerConfig Sd1Scheduler { get; } = SchedulerConfig.ForClass(SchedulerConfig.PndmClassName) with
    {
        BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = BetaSchedule.ScaledLinear, SkipPrkSteps = true,
        SetAlphaToOne = false, StepsOffset = 1, ClipSample = false,
    };

    /// <summary>Refuses a file of another family; one line names the key that told and what it means.</summary>
    /// <param name="shapes">Every key of the file with its shape.</param>
    /// <param name="path">The file, for the message.</param>
    /// <exception cref="NotSupportedException">The file is SD 2.x, SDXL, an inpainting U-Net, a VAE-only or LoRA file, or lacks a component.</exception>
    public static void CheckFamily(IReadOnlyDictionary<string, long[]> shapes, string path)
    {
        string? Find(string prefix) => shapes.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).FirstOrDefault();
        void Refuse(string key, string what) =>
            throw new NotSupportedException($"'{path}' is {what} (key '{key}'); only Stable Diffusion 1.x single files are supported");

        if (Find("conditioner.embedders.") is { } sdxl) Refuse(sdxl, "an SDXL checkpoint");
        if (Find("cond_stage_model.model.") is { } openClip) Refuse(openClip, "a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder)");
        if (Find(UNetPrefix + "label_emb.") is { } label) Refuse(label, "a class-conditioned U-Net (SDXL or unCLIP)");
        if ((Find("lora_unet_") ?? Find("lora_te_")) is { } lora) Refuse(lora, "a LoRA, not a model; pass it with --lora");
        if (Find(UNetPrefix) is null && (Find(VaePrefix) ?? Find("encoder.conv_in.") ?? Find("decoder.conv_in.")) is { } vaeKey)
            Refuse(vaeKey, "a VAE-only file");
        string convIn = UNetPrefix + "input_blocks.0.0.weight";
        if (shapes.TryGetValue(convIn, out long[]? s) && s.Length == 4 && s[1] == 9)
            Refuse(convIn, "an inpainting U-Net (9 input channels)");
        foreach (string prefix in new[] { UNetPrefix, VaePrefix, TextEncoderPrefix })
            if (Find(prefix) is null)
                throw new NotSupportedException($"'{path}' has no '{prefix}*' keys; a Stable Diffusion 1.x single file holds the U-Net, the VAE and the CLIP text encoder");
    }

    /// <summary>Reads the configs and layout from <paramref name="shapes"/>.</summary>
    /// <exception cref="InvalidDataException">A key the architecture needs is missing; the message names it.</exception>
    public static SingleFileConfigs Infer(IReadOnlyDictionary<string, long[]> shapes, string path)
    {
        long[] Shape(string key) => shapes.TryGetValue(key, out long[]? s) ? s
            : throw new InvalidDataException($"'{path}': key '{key}' is missing; it tells the architecture");
        bool Has(string key) => shapes.ContainsKey(key);
        int Count(Func<int, string> key) { int n = 0; while (Has(key(n))) n++; return n; }

        // U-Net: input_blocks hold levels * (layers + 1) blocks; the first downsampler sits at index layers + 1.
        string u = UNetPrefix;
        int inputBlocks = CountPrefix(shapes, $"{u}input_blocks.");
        int firstDown = Enumerable.Range(1, Math.Max(inputBlocks - 1, 0)).FirstOrDefault(i => Has($"{u}input_blocks.{i}.0.op.weight"));
        int layers = firstDown > 0 ? firstDown - 1 : inputBlocks - 1;
        int levels = inputBlocks / (layers + 1);
        if (layers < 1 || levels < 1 || levels * (layers + 1) != inputBlocks)
            throw new InvalidDataException($"'{path}': {inputBlocks} U-Net input_blocks do not form levels of resnets and downsamplers");
        int[] channels = new int[levels];
        bool[] attention = new bool[levels];
        for (int i = 0; i < levels; i++)
        {
            int b = 1 + i * (layers + 1);
            channels[i] = (int)Shape($"{u}input_blocks.{b}.0.out_layers.3.weight")[0];
            attention[i] = Has($"{u}input_blocks.{b}.1.proj_in.weight");
        }
        string attnBlock = $"{u}middle_block.1.";
        long[] convIn = Shape($"{u}input_blocks.0.0.weight");
        var unet = new UNetConfig
        {
            ClassName = UNetConfig.ClassNameValue,
            SampleSize = 64,
            InChannels = (int)convIn[1],
            OutChannels = (int)Shape($"{u}out.2.weight")[0],
            BlockOutChannels = channels,
            LayersPerBlock = layers,
            DownBlockTypes = attention.Select(a => a ? UNetConfig.CrossAttnDownBlock : UNetConfig.DownBlock).ToArray(),
            UpBlockTypes = attention.Reverse().Select(a => a ? UNetConfig.CrossAttnUpBlock : UNetConfig.UpBlock).ToArray(),
            CrossAttentionDim = (int)Shape(attnBlock + "transformer_blocks.0.attn2.to_k.weight")[1],
            TransformerLayersPerBlock = Count(k => $"{attnBlock}transformer_blocks.{k}.norm1.weight"),
            UseLinearProjection = Shape(attnBlock + "proj_in.weight").Length == 2,
            AttentionHeadDim = 8,
            NormNumGroups = 32,
        };

        // VAE: encoder.down.i.block.j; the latent width is post_quant_conv's.
        string v = VaePrefix;
        int vaeLevels = Count(i => $"{v}encoder.down.{i}.block.0.conv1.weight");
        int vaeLayers = Count(j => $"{v}encoder.down.0.block.{j}.conv1.weight");
        var vae = new VaeConfig
        {
            ClassName = VaeConfig.ClassNameValue,
            InChannels = (int)Shape($"{v}encoder.conv_in.weight")[1],
            OutChannels = (int)Shape($"{v}decoder.conv_out.weight")[0],
            BlockOutChannels = Enumerable.Range(0, vaeLevels).Select(i => (int)Shape($"{v}encoder.down.{i}.block.0.conv2.weight")[0]).ToArray(),
            DownBlockTypes = Enumerable.Repeat(VaeConfig.DownEncoderBlockType, vaeLevels).ToArray(),
            UpBlockTypes = Enumerable.Repeat(VaeConfig.UpDecoderBlockType, vaeLevels).ToArray(),
            LayersPerBlock = vaeLayers,
            LatentChannels = (int)Shape($"{v}post_quant_conv.weight")[1],
            NormNumGroups = 32,
            SampleSize = 512,
        };

        // CLIP: transformers' names under text_model. (or, in old files, directly under the prefix).
        string t = Has(TextEncoderPrefix + "text_model.embeddings.token_embedding.weight") ? TextEncoderPrefix + "text_model." : TextEncoderPrefix;
        long[] tokens = Shape(t + "embeddings.token_embedding.weight");
        int hidden = (int)tokens[1];
        var text = new ClipTextConfig
        {
            Architectures = [ClipTextConfig.ClassName],
            ModelType = ClipTextConfig.TypeName,
            VocabSize = (int)tokens[0],
            HiddenSize = hidden,
            ProjectionDim = hidden,
            IntermediateSize = (int)Shape(t + "encoder.layers.0.mlp.fc1.weight")[0],
            NumHiddenLayers = Count(i => $"{t}encoder.layers.{i}.self_attn.q_proj.weight"),
            NumAttentionHeads = Math.Max(hidden / 64, 1),
            MaxPositionEmbeddings = (int)Shape(t + "embeddings.position_embedding.weight")[0],
        };
        return new SingleFileConfigs(unet, vae, text, new LdmLayout(levels, layers, attention, vaeLevels, vaeLayers));
    }

    /// <summary>The layout implied by configs (from <c>--config</c>), checked against what the keys say.</summary>
    public static LdmLayout LayoutOf(UNetConfig unet, VaeConfig vae) => new(
        unet.BlockOutChannels.Length, unet.LayersPerBlock.PerBlock(unet.BlockOutChannels.Length)[0],
        unet.DownBlockTypes.Select(b => b == UNetConfig.CrossAttnDownBlock).ToArray(),
        vae.BlockOutChannels.Length, vae.LayersPerBlock);

    // input_blocks.N. for the largest N, plus one.
    static int CountPrefix(IReadOnlyDictionary<string, long[]> shapes, string prefix)
    {
        int max = -1;
        foreach (string k in shapes.Keys)
        {
            if (!k.StartsWith(prefix, StringComparison.Ordinal)) continue;
            int dot = k.IndexOf('.', prefix.Length);
            if (dot > prefix.Length && int.TryParse(k.AsSpan(prefix.Length, dot - prefix.Length), out int n)) max = Math.Max(max, n);
        }
        return max + 1;
    }
}
