namespace Latent.Pipeline.SingleFile;

/// <summary>The module of ours that a single-file key belongs to.</summary>
public enum SingleFileComponent
{
    /// <summary><c>model.diffusion_model.*</c>: the U-Net.</summary>
    UNet,

    /// <summary><c>first_stage_model.*</c>: the VAE.</summary>
    Vae,

    /// <summary><c>cond_stage_model.transformer.*</c>: the CLIP text encoder.</summary>
    TextEncoder,
}

/// <summary>One key of ours: its component, its name there, and whether a [C, C, 1, 1] conv weight becomes a [C, C] linear one.</summary>
/// <param name="Component">The module.</param>
/// <param name="Key">The diffusers/transformers key inside that module.</param>
/// <param name="SqueezeConv">The VAE's mid attention: LDM stores q/k/v/proj_out as 1x1 convs, we as linear layers.</param>
public sealed record MappedKey(SingleFileComponent Component, string Key, bool SqueezeConv);

/// <summary>The block structure that decides the key names (see <see cref="LdmKeyMap"/>).</summary>
/// <param name="UNetLevels">U-Net resolution levels (4 for SD 1.x).</param>
/// <param name="UNetLayers">Resnets per down level (2); up levels have one more.</param>
/// <param name="UNetAttention">Per down level, whether it has cross-attention (SD 1.x: true, true, true, false).</param>
/// <param name="VaeLevels">VAE levels (4).</param>
/// <param name="VaeLayers">Resnets per encoder level (2); decoder levels have one more.</param>
public sealed record LdmLayout(int UNetLevels, int UNetLayers, bool[] UNetAttention, int VaeLevels, int VaeLayers);

/// <summary>
/// Converts the original (CompVis/LDM) key names of a Stable Diffusion 1.x single file to our diffusers-named modules
/// and back, from one table of rules built for a <see cref="LdmLayout"/>.
/// </summary>
/// <remarks>
/// <para>A rule maps a block prefix (<c>model.diffusion_model.input_blocks.4.0.</c>) to ours
/// (<c>down_blocks.1.resnets.0.</c>), and renames the leaf names inside the block with a small table
/// (<c>in_layers.0.</c> -> <c>norm1.</c>); a rule without a leaf table keeps the names (the transformer blocks, whose names
/// LDM and diffusers share). Written after reading diffusers' <c>convert_from_ckpt</c>/<c>single_file_utils.py</c> and
/// stable-diffusion.cpp's <c>name_conversion.cpp</c>: the index arithmetic is the same, the tables are ours.</para>
/// <para>The LDM U-Net numbers its blocks in one sequence: <c>input_blocks.0</c> is conv_in, then each level has
/// <c>layers</c> blocks (<c>.0</c> resnet, <c>.1</c> attention) and, except the last, one downsampler (<c>.0.op</c>).
/// <c>output_blocks</c> has <c>layers + 1</c> blocks per level, whose last holds the upsampler at <c>.1</c> or, after an
/// attention, <c>.2</c>. The VAE's <c>decoder.up.i</c> is diffusers' <c>up_blocks[levels - 1 - i]</c>.</para>
/// </remarks>
public sealed class LdmKeyMap
{
    /// <summary>The U-Net's prefix in a single file.</summary>
    public const string UNetPrefix = "model.diffusion_model.";

    /// <summary>The VAE's prefix in a single file.</summary>
    public const string VaePrefix = "first_stage_model.";

    /// <summary>The CLIP text encoder's prefix in a single file (transformers' CLIPTextModel inside LDM's FrozenCLIPEmbedder).</summary>
    public const string TextEncoderPrefix = "cond_stage_model.transformer.";

    // LDM ResBlock -> diffusers ResnetBlock2D (U-Net).
    static readonly (string Ldm, string Ours)[] UNetResnet =
    [
        ("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."), ("emb_layers.1.", "time_emb_proj."),
        ("out_layers.0.", "norm2."), ("out_layers.3.", "conv2."), ("skip_connection.", "conv_shortcut."),
    ];

    // LDM ResnetBlock -> diffusers ResnetBlock2D (VAE): only the shortcut is renamed.
    static readonly (string Ldm, string Ours)[] VaeResnet =
    [
        ("norm1.", "norm1."), ("conv1.", "conv1."), ("norm2.", "norm2."), ("conv2.", "conv2."), ("nin_shortcut.", "conv_shortcut."),
    ];

    // LDM AttnBlock (1x1 convs) -> diffusers Attention (linear layers).
    static readonly (string Ldm, string Ours)[] VaeAttention =
    [
        ("norm.", "group_norm."), ("q.", "to_q."), ("k.", "to_k."), ("v.", "to_v."), ("proj_out.", "to_out.0."),
    ];

    // A bare conv, linear or norm: weight and bias only.
    static readonly (string Ldm, string Ours)[] Plain = [("weight", "weight"), ("bias", "bias")];

    sealed record Rule(string LdmPrefix, SingleFileComponent Component, string OurPrefix, (string Ldm, string Ours)[]? Leaves);

    readonly List<Rule> rules = [];

    /// <summary>Builds the rules for <paramref name="layout"/>.</summary>
    public LdmKeyMap(LdmLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        Layout = layout;
        AddUNet(layout);
        AddVae(layout);
        // transformers' CLIPTextModel, saved whole; very old files lack the "text_model." level.
        Add(TextEncoderPrefix + "text_model.", SingleFileComponent.TextEncoder, "text_model.", null);
        Add(TextEncoderPrefix, SingleFileComponent.TextEncoder, "text_model.", null);
        // Longest prefix first, so "cond_stage_model.transformer." only takes what "...text_model." did not.
        rules.Sort((a, b) => b.LdmPrefix.Length.CompareTo(a.LdmPrefix.Length));
    }

    /// <summary>The block structure the rules were built for.</summary>
    public LdmLayout Layout { get; }

    /// <summary>Our name for <paramref name="ldmKey"/>, or null when no rule matches it (the caller lists those as unmatched).</summary>
    public MappedKey? ToOurs(string ldmKey)
    {
        foreach (Rule r in rules)
        {
            if (!ldmKey.StartsWith(r.LdmPrefix, StringComparison.Ordinal)) continue;
            string rest = ldmKey[r.LdmPrefix.Length..];
            string? ours = Rename(rest, r.Leaves, fromLdm: true);
            if (ours is null) return null;
            bool squeeze = ReferenceEquals(r.Leaves, VaeAttention) && ours.EndsWith(".weight", StringComparison.Ordinal) && !ours.StartsWith("group_norm.", StringComparison.Ordinal);
            return new MappedKey(r.Component, r.OurPrefix + ours, squeeze);
        }
        return null;
    }

    /// <summary>The single-file name of our <paramref name="key"/> in <paramref name="component"/>, or null when no rule covers it.</summary>
    public (string LdmKey, bool UnsqueezeConv)? ToLdm(SingleFileComponent component, string key)
    {
        Rule? best = null;
        foreach (Rule r in rules)
            if (r.Component == component && key.StartsWith(r.OurPrefix, StringComparison.Ordinal) && (best is null || r.OurPrefix.Length > best.OurPrefix.Length))
                best = r;
        if (best is null) return null;
        string? ldm = Rename(key[best.OurPrefix.Length..], best.Leaves, fromLdm: false);
        if (ldm is null) return null;
        bool unsqueeze = ReferenceEquals(best.Leaves, VaeAttention) && ldm.EndsWith(".weight", StringComparison.Ordinal) && !ldm.StartsWith("norm.", StringComparison.Ordinal);
        return (best.LdmPrefix + ldm, unsqueeze);
    }

    static string? Rename(string rest, (string Ldm, string Ours)[]? leaves, bool fromLdm)
    {
        if (leaves is null) return rest;
        foreach (var (ldm, ours) in leaves)
        {
            var (from, to) = fromLdm ? (ldm, ours) : (ours, ldm);
            if (from.EndsWith('.') ? rest.StartsWith(from, StringComparison.Ordinal) : rest == from)
                return to + rest[from.Length..];
        }
        return null;
    }

    void Add(string ldmPrefix, SingleFileComponent component, string ourPrefix, (string, string)[]? leaves) =>
        rules.Add(new Rule(ldmPrefix, component, ourPrefix, leaves));

    void AddUNet(LdmLayout l)
    {
        const SingleFileComponent U = SingleFileComponent.UNet;
        string p = UNetPrefix;
        Add(p + "time_embed.0.", U, "time_embedding.linear_1.", Plain);
        Add(p + "time_embed.2.", U, "time_embedding.linear_2.", Plain);
        Add(p + "input_blocks.0.0.", U, "conv_in.", Plain);
        Add(p + "out.0.", U, "conv_norm_out.", Plain);
        Add(p + "out.2.", U, "conv_out.", Plain);

        // Down: input_blocks 1 + i * (layers + 1) + j; the downsampler closes each level but the last.
        for (int i = 0; i < l.UNetLevels; i++)
        {
            for (int j = 0; j < l.UNetLayers; j++)
            {
                int b = 1 + i * (l.UNetLayers + 1) + j;
                Add($"{p}input_blocks.{b}.0.", U, $"down_blocks.{i}.resnets.{j}.", UNetResnet);
                if (l.UNetAttention[i]) Add($"{p}input_blocks.{b}.1.", U, $"down_blocks.{i}.attentions.{j}.", null);
            }
            if (i < l.UNetLevels - 1)
                Add($"{p}input_blocks.{(i + 1) * (l.UNetLayers + 1)}.0.op.", U, $"down_blocks.{i}.downsamplers.0.conv.", Plain);
        }

        // Middle: resnet, attention, resnet.
        Add(p + "middle_block.0.", U, "mid_block.resnets.0.", UNetResnet);
        Add(p + "middle_block.1.", U, "mid_block.attentions.0.", null);
        Add(p + "middle_block.2.", U, "mid_block.resnets.1.", UNetResnet);

        // Up: output_blocks i * (layers + 1) + j; up level i mirrors down level levels - 1 - i.
        for (int i = 0; i < l.UNetLevels; i++)
        {
            bool attention = l.UNetAttention[l.UNetLevels - 1 - i];
            for (int j = 0; j <= l.UNetLayers; j++)
            {
                int b = i * (l.UNetLayers + 1) + j;
                Add($"{p}output_blocks.{b}.0.", U, $"up_blocks.{i}.resnets.{j}.", UNetResnet);
                if (attention) Add($"{p}output_blocks.{b}.1.", U, $"up_blocks.{i}.attentions.{j}.", null);
            }
            if (i < l.UNetLevels - 1)
                Add($"{p}output_blocks.{i * (l.UNetLayers + 1) + l.UNetLayers}.{(attention ? 2 : 1)}.conv.", U, $"up_blocks.{i}.upsamplers.0.conv.", Plain);
        }
    }

    void AddVae(LdmLayout l)
    {
        const SingleFileComponent V = SingleFileComponent.Vae;
        string p = VaePrefix;
        foreach (string part in new[] { "encoder", "decoder" })
        {
            Add($"{p}{part}.conv_in.", V, $"{part}.conv_in.", Plain);
            Add($"{p}{part}.norm_out.", V, $"{part}.conv_norm_out.", Plain);
            Add($"{p}{part}.conv_out.", V, $"{part}.conv_out.", Plain);
            Add($"{p}{part}.mid.block_1.", V, $"{part}.mid_block.resnets.0.", VaeResnet);
            Add($"{p}{part}.mid.attn_1.", V, $"{part}.mid_block.attentions.0.", VaeAttention);
            Add($"{p}{part}.mid.block_2.", V, $"{part}.mid_block.resnets.1.", VaeResnet);
        }
        Add(p + "quant_conv.", V, "quant_conv.", Plain);
        Add(p + "post_quant_conv.", V, "post_quant_conv.", Plain);

        for (int i = 0; i < l.VaeLevels; i++)
        {
            for (int j = 0; j < l.VaeLayers; j++)
                Add($"{p}encoder.down.{i}.block.{j}.", V, $"encoder.down_blocks.{i}.resnets.{j}.", VaeResnet);
            if (i < l.VaeLevels - 1)
                Add($"{p}encoder.down.{i}.downsample.conv.", V, $"encoder.down_blocks.{i}.downsamplers.0.conv.", Plain);

            // The decoder's up.i runs at level i, i.e. it is the (levels - 1 - i)-th block in diffusers' order.
            int ours = l.VaeLevels - 1 - i;
            for (int j = 0; j <= l.VaeLayers; j++)
                Add($"{p}decoder.up.{i}.block.{j}.", V, $"decoder.up_blocks.{ours}.resnets.{j}.", VaeResnet);
            if (i > 0)
                Add($"{p}decoder.up.{i}.upsample.conv.", V, $"decoder.up_blocks.{ours}.upsamplers.0.conv.", Plain);
        }
    }
}
