using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;

namespace Latent.Pipeline.Performance;

/// <summary>
/// FLOPs of one call of each part of a latent diffusion model, from its config and the call's shapes (see
/// <see cref="FlopTally"/> for what is counted). Each walk mirrors the module's constructor and forward layer by layer;
/// a test checks that it visits exactly the conv and linear weights of the real module, and hand counts for one block.
/// </summary>
public static class ModelFlops
{
    /// <summary>One U-Net call on [B, Cin, h, w] latents with [B, T, D] text states.</summary>
    /// <param name="config">The U-Net's config.</param>
    /// <param name="batch">B (2 per image for a guided step).</param>
    /// <param name="height">h, latent pixels.</param>
    /// <param name="width">w, latent pixels.</param>
    /// <param name="tokens">T (77 for CLIP).</param>
    /// <param name="textKeyValues">Whether to count the cross-attention's K and V projections of the text states, which
    /// the pipeline computes once per generation rather than at every step (false: a step's work when they are cached).</param>
    public static FlopTally UNet(UNetConfig config, long batch, long height, long width, long tokens, bool textKeyValues = true)
    {
        ArgumentNullException.ThrowIfNull(config);
        var t = new FlopTally();
        int levels = config.BlockOutChannels.Length;
        int[] ch = config.BlockOutChannels, heads = config.HeadsPerBlock;
        int[] cross = config.CrossAttentionDim.PerBlock(levels), layers = config.LayersPerBlock.PerBlock(levels);
        int[] transformerLayers = config.TransformerLayersPerBlock.PerBlock(levels);
        long temb = config.TimeEmbedDim, h = height, w = width;
        var text = new TextShape(tokens, textKeyValues);

        // 1. Time embedding: [B, C0] -> [B, Temb] -> [B, Temb]; 2. conv_in.
        t.Linear(batch, ch[0], temb);
        t.Linear(batch, temb, temb);
        t.Conv(batch, config.InChannels, ch[0], config.ConvInKernel, h, w);
        // 3. Down levels: (ResNet, transformer) pairs, then a stride-2 conv except at the last level.
        for (int i = 0; i < levels; i++)
        {
            long input = i == 0 ? ch[0] : ch[i - 1];
            for (int j = 0; j < layers[i]; j++)
            {
                Resnet(t, batch, j == 0 ? input : ch[i], ch[i], temb, h, w);
                if (config.DownBlockTypes[i] == UNetConfig.CrossAttnDownBlock)
                    Transformer(t, config, batch, ch[i], heads[i], cross[i], transformerLayers[i], h, w, text);
            }
            if (i < levels - 1)
            {
                (h, w) = ((h + 1) / 2, (w + 1) / 2);
                t.Conv(batch, ch[i], ch[i], 3, h, w);
            }
        }
        // 4. Mid block: ResNet, transformer, ResNet at the deepest width (its attn1 is self-attention even with
        //    only_cross_attention, as diffusers' UNetMidBlock2DCrossAttn).
        Resnet(t, batch, ch[^1], ch[^1], temb, h, w);
        Transformer(t, config, batch, ch[^1], heads[^1], cross[^1], transformerLayers[^1], h, w, text, onlyCross: false);
        Resnet(t, batch, ch[^1], ch[^1], temb, h, w);
        // 5. Up levels mirror the down levels; each ResNet takes the previous output and one skip.
        for (int i = 0; i < levels; i++)
        {
            int mirror = levels - 1 - i;
            long prev = i == 0 ? ch[^1] : ch[mirror + 1], input = ch[Math.Max(mirror - 1, 0)], n = layers[mirror] + 1;
            for (int j = 0; j < n; j++)
            {
                long resIn = (j == 0 ? prev : ch[mirror]) + (j == n - 1 ? input : ch[mirror]);
                Resnet(t, batch, resIn, ch[mirror], temb, h, w);
                if (config.UpBlockTypes[i] == UNetConfig.CrossAttnUpBlock)
                    Transformer(t, config, batch, ch[mirror], heads[mirror], cross[mirror], transformerLayers[mirror], h, w, text);
            }
            if (i < levels - 1)
            {
                (h, w) = (h * 2, w * 2);
                t.Conv(batch, ch[mirror], ch[mirror], 3, h, w);
            }
        }
        // 6. conv_out.
        t.Conv(batch, ch[0], config.OutChannels, config.ConvOutKernel, h, w);
        return t;
    }

    /// <summary>One text-encoder call on [B, T] token ids (embedding lookups are not arithmetic).</summary>
    /// <param name="config">The text encoder's config.</param>
    /// <param name="batch">B.</param>
    /// <param name="tokens">T.</param>
    public static FlopTally TextEncoder(ClipTextConfig config, long batch, long tokens)
    {
        ArgumentNullException.ThrowIfNull(config);
        var t = new FlopTally();
        long rows = batch * tokens, d = config.HiddenSize;
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            for (int p = 0; p < 3; p++) t.Linear(rows, d, d);     // q_proj, k_proj, v_proj
            t.AttentionProducts(batch, tokens, tokens, d);       // the full T x T scores (the causal mask zeroes half of them)
            t.Linear(rows, d, d);                                // out_proj
            t.Linear(rows, d, config.IntermediateSize);          // mlp.fc1
            t.Linear(rows, config.IntermediateSize, d);          // mlp.fc2
        }
        return t;
    }

    /// <summary>One VAE decode of [B, latent, h, w] latents (post_quant_conv and the decoder).</summary>
    /// <param name="config">The VAE's config.</param>
    /// <param name="batch">B.</param>
    /// <param name="height">h, latent pixels.</param>
    /// <param name="width">w, latent pixels.</param>
    public static FlopTally VaeDecoder(VaeConfig config, long batch, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(config);
        var t = new FlopTally();
        int[] reversed = config.BlockOutChannels.Reverse().ToArray();
        long h = height, w = width;
        t.Conv(batch, config.LatentChannels, config.LatentChannels, 1, h, w);   // post_quant_conv
        t.Conv(batch, config.LatentChannels, reversed[0], 3, h, w);             // conv_in
        VaeMid(t, batch, reversed[0], h, w);
        long output = reversed[0];
        for (int i = 0; i < reversed.Length; i++)
        {
            long previous = output;
            output = reversed[i];
            for (int j = 0; j < config.LayersPerBlock + 1; j++) Resnet(t, batch, j == 0 ? previous : output, output, null, h, w);
            if (i < reversed.Length - 1)
            {
                (h, w) = (h * 2, w * 2);
                t.Conv(batch, output, output, 3, h, w);                         // upsamplers.0.conv after nearest 2x
            }
        }
        t.Conv(batch, reversed[^1], config.OutChannels, 3, h, w);               // conv_out
        return t;
    }

    /// <summary>One VAE encode of [B, Cin, H, W] images (the encoder and quant_conv, up to the posterior's moments).</summary>
    /// <param name="config">The VAE's config.</param>
    /// <param name="batch">B.</param>
    /// <param name="height">H, image pixels.</param>
    /// <param name="width">W, image pixels.</param>
    public static FlopTally VaeEncoder(VaeConfig config, long batch, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(config);
        var t = new FlopTally();
        int[] widths = config.BlockOutChannels;
        long h = height, w = width;
        t.Conv(batch, config.InChannels, widths[0], 3, h, w);                   // conv_in
        long input = widths[0];
        for (int i = 0; i < widths.Length; i++)
        {
            for (int j = 0; j < config.LayersPerBlock; j++) Resnet(t, batch, j == 0 ? input : widths[i], widths[i], null, h, w);
            if (i < widths.Length - 1)
            {
                (h, w) = (h / 2, w / 2);                                        // padded right and bottom by one, stride 2
                t.Conv(batch, widths[i], widths[i], 3, h, w);
            }
            input = widths[i];
        }
        VaeMid(t, batch, widths[^1], h, w);
        t.Conv(batch, widths[^1], 2 * config.LatentChannels, 3, h, w);          // conv_out
        t.Conv(batch, 2 * config.LatentChannels, 2 * config.LatentChannels, 1, h, w); // quant_conv
        return t;
    }

    /// <summary>ResnetBlock2D: conv1 3x3, the time projection, conv2 3x3, and a 1x1 shortcut when the width changes.</summary>
    internal static void Resnet(FlopTally t, long batch, long inChannels, long outChannels, long? temb, long h, long w)
    {
        t.Conv(batch, inChannels, outChannels, 3, h, w);
        if (temb is long e) t.Linear(batch, e, outChannels);
        t.Conv(batch, outChannels, outChannels, 3, h, w);
        if (inChannels != outChannels) t.Conv(batch, inChannels, outChannels, 1, h, w);
    }

    /// <summary>The text length and whether the cross-attention's K/V projections are counted.</summary>
    internal readonly record struct TextShape(long Tokens, bool KeyValues);

    /// <summary>Transformer2DModel: proj_in, the blocks, proj_out (1x1 convs, or linear layers: the same FLOPs).</summary>
    internal static void Transformer(FlopTally t, UNetConfig config, long batch, long channels, long heads, long contextDim, int layers,
        long h, long w, TextShape text, bool? onlyCross = null)
    {
        long n = h * w, inner = heads * (channels / heads);
        Projection(t, config.UseLinearProjection, batch, channels, inner, h, w);
        for (int i = 0; i < layers; i++) TransformerBlock(t, batch, n, inner, contextDim, onlyCross ?? config.OnlyCrossAttention, text);
        Projection(t, config.UseLinearProjection, batch, inner, channels, h, w);
    }

    /// <summary>BasicTransformerBlock on [B, N, C]: self-attention (or attention to the text with onlyCross), cross-attention, GEGLU feed-forward.</summary>
    internal static void TransformerBlock(FlopTally t, long batch, long n, long dim, long contextDim, bool onlyCross, TextShape text)
    {
        long rows = batch * n;
        if (onlyCross) CrossAttention(t, batch, n, dim, contextDim, text);
        else
        {
            for (int p = 0; p < 3; p++) t.Linear(rows, dim, dim, bias: false);   // to_q, to_k, to_v (one fused GEMM, same FLOPs)
            t.AttentionProducts(batch, n, n, dim);
            t.Linear(rows, dim, dim);                                           // to_out.0
        }
        CrossAttention(t, batch, n, dim, contextDim, text);
        t.Linear(rows, dim, dim * 4 * 2);                                       // ff.net.0.proj (GEGLU: value and gate)
        t.Linear(rows, dim * 4, dim);                                           // ff.net.2
    }

    static void CrossAttention(FlopTally t, long batch, long n, long dim, long contextDim, TextShape text)
    {
        long rows = batch * n;
        t.Linear(rows, dim, dim, bias: false);                                  // to_q
        if (text.KeyValues)
            for (int p = 0; p < 2; p++) t.Linear(batch * text.Tokens, contextDim, dim, bias: false); // to_k, to_v of the text
        t.AttentionProducts(batch, n, text.Tokens, dim);
        t.Linear(rows, dim, dim);                                               // to_out.0
    }

    static void Projection(FlopTally t, bool linear, long batch, long inChannels, long outChannels, long h, long w)
    {
        if (linear) t.Linear(batch * h * w, inChannels, outChannels);
        else t.Conv(batch, inChannels, outChannels, 1, h, w);
    }

    /// <summary>The VAE's mid block: ResNet, single-head self-attention with biased projections over all positions, ResNet.</summary>
    static void VaeMid(FlopTally t, long batch, long channels, long h, long w)
    {
        long n = h * w;
        Resnet(t, batch, channels, channels, null, h, w);
        for (int p = 0; p < 4; p++) t.Linear(batch * n, channels, channels);   // to_q, to_k, to_v, to_out.0
        t.AttentionProducts(batch, n, n, channels);
        Resnet(t, batch, channels, channels, null, h, w);
    }
}
