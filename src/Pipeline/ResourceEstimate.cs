using Latent.Core.Config;
using Latent.Core.IO;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;

namespace Latent.Pipeline;

/// <summary>
/// What a model and a request will cost before anything is built: parameter counts from the configs, checked against the
/// tensors in the weights file (its header only) and against available memory, and the activation memory of one
/// generation (issue 21 item 2). Each check refuses with one line that names the file and the keys, instead of letting
/// libtorch or ONNX Runtime fail in the allocator.
/// </summary>
/// <remarks>
/// <para>Parameter counts follow diffusers' and transformers' module layouts exactly (the shipped model and the parity
/// fixture count to the parameter; a test holds that). Activation sizes are estimates: the largest live set of one
/// U-Net evaluation (the skip connections of every level plus the working tensors of the widest level, plus the full
/// attention matrix where the U-Net runs on ONNX Runtime, whose exported attention materialises it) or of the VAE
/// decoder at full resolution, whichever is larger.</para>
/// <para>Available memory is Linux's <c>MemAvailable</c> (/proc/meminfo), else the GC's view of the machine.</para>
/// </remarks>
public static class ResourceEstimate
{
    /// <summary>Bytes per float32 value.</summary>
    const double Float = 4;

    /// <summary>A model whose config describes more than this many times the parameters its weights file holds is refused
    /// before it is built; the strict loader names any smaller difference key by key once it is.</summary>
    public const double ParameterSlack = 1.5;

    /// <summary>U-Net parameters (diffusers' <c>UNet2DConditionModel</c> for the block types <see cref="UNetConfig"/> accepts).</summary>
    /// <param name="c">A config that passed <see cref="UNetConfig.Validate"/>.</param>
    public static double UNetParameters(UNetConfig c)
    {
        int levels = c.BlockOutChannels.Length;
        int[] ch = c.BlockOutChannels, layers = c.LayersPerBlock.PerBlock(levels), cross = c.CrossAttentionDim.PerBlock(levels),
            depth = c.TransformerLayersPerBlock.PerBlock(levels);
        double t = c.TimeEmbedDim;
        double total = Conv(c.InChannels, ch[0], c.ConvInKernel) + Linear(ch[0], t) + Linear(t, t);
        for (int i = 0, input = ch[0]; i < levels; input = ch[i], i++)
        {
            bool attn = c.DownBlockTypes[i] == UNetConfig.CrossAttnDownBlock;
            for (int j = 0; j < layers[i]; j++)
                total += Resnet(j == 0 ? input : ch[i], ch[i], t) + (attn ? Transformer(ch[i], cross[i], depth[i]) : 0);
            if (i < levels - 1) total += Conv(ch[i], ch[i], 3);
        }
        int last = ch[^1];
        total += 2 * Resnet(last, last, t) + Transformer(last, cross[^1], depth[^1]);
        int[] rch = ch.Reverse().ToArray(), rlayers = layers.Reverse().ToArray(), rcross = cross.Reverse().ToArray(), rdepth = depth.Reverse().ToArray();
        for (int i = 0, output = rch[0]; i < levels; i++)
        {
            int prev = output;
            output = rch[i];
            int skipIn = rch[Math.Min(i + 1, levels - 1)], n = rlayers[i] + 1;
            bool attn = c.UpBlockTypes[i] == UNetConfig.CrossAttnUpBlock;
            for (int j = 0; j < n; j++)
                total += Resnet((j == 0 ? prev : output) + (j == n - 1 ? skipIn : output), output, t) + (attn ? Transformer(output, rcross[i], rdepth[i]) : 0);
            if (i < levels - 1) total += Conv(output, output, 3);
        }
        return total + Norm(ch[0]) + Conv(ch[0], c.OutChannels, c.ConvOutKernel);
    }

    /// <summary>VAE parameters (diffusers' <c>AutoencoderKL</c>: encoder, decoder, quant_conv and post_quant_conv).</summary>
    /// <param name="c">A config that passed <see cref="VaeConfig.Validate"/>.</param>
    public static double VaeParameters(VaeConfig c)
    {
        int[] ch = c.BlockOutChannels;
        int levels = ch.Length, last = ch[^1], z = c.LatentChannels, n = c.LayersPerBlock;
        double mid = 2 * Resnet(last, last, 0) + Norm(last) + 4 * Linear(last, last);
        double total = Conv(c.InChannels, ch[0], 3) + mid + Norm(last) + Conv(last, 2 * z, 3) + Conv(2 * z, 2 * z, 1) + Conv(z, z, 1);
        for (int i = 0, input = ch[0]; i < levels; input = ch[i], i++)
        {
            for (int j = 0; j < n; j++) total += Resnet(j == 0 ? input : ch[i], ch[i], 0);
            if (i < levels - 1) total += Conv(ch[i], ch[i], 3);
        }
        total += Conv(z, last, 3) + mid + Norm(ch[0]) + Conv(ch[0], c.OutChannels, 3);
        int[] rch = ch.Reverse().ToArray();
        for (int i = 0, output = rch[0]; i < levels; i++)
        {
            int prev = output;
            output = rch[i];
            for (int j = 0; j <= n; j++) total += Resnet(j == 0 ? prev : output, output, 0);
            if (i < levels - 1) total += Conv(output, output, 3);
        }
        return total;
    }

    /// <summary>Text encoder parameters (transformers' <c>CLIPTextModel</c>: embeddings, layers, final layer norm).</summary>
    /// <param name="c">A config that passed <see cref="ClipTextConfig.Validate"/>.</param>
    public static double TextEncoderParameters(ClipTextConfig c)
    {
        double h = c.HiddenSize;
        double layer = 4 * Linear(h, h) + 2 * Norm(h) + Linear(h, c.IntermediateSize) + Linear(c.IntermediateSize, h);
        return (double)c.VocabSize * h + (double)c.MaxPositionEmbeddings * h + c.NumHiddenLayers * layer + Norm(h);
    }

    /// <summary>
    /// Peak activation bytes of one generation of <paramref name="images"/> images of <paramref name="width"/> x
    /// <paramref name="height"/>, the U-Net evaluating <paramref name="unetBatch"/> samples at once (2x images with guidance).
    /// </summary>
    /// <param name="unet">The U-Net's config.</param>
    /// <param name="vae">The VAE's config.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="unetBatch">Samples per U-Net call.</param>
    /// <param name="images">Images the VAE decodes.</param>
    /// <param name="materializedAttention">Whether the U-Net's attention holds its full [B, heads, N, N] matrix (ONNX Runtime's export does; libtorch's fused kernel does not).</param>
    public static double GenerationBytes(UNetConfig unet, VaeConfig vae, int width, int height, int unetBatch, int images, bool materializedAttention)
    {
        int f = vae.DownsampleFactor, levels = unet.BlockOutChannels.Length;
        int[] layers = unet.LayersPerBlock.PerBlock(levels), heads = unet.HeadsPerBlock;
        double pixels = (double)width / f * height / f, skips = 0, widest = 0, scores = 0;
        for (int i = 0; i < levels; i++)
        {
            double tokens = pixels / Math.Pow(4, i), c = unet.BlockOutChannels[i];
            skips += (layers[i] + 1) * c * tokens;
            widest = Math.Max(widest, 8 * c * tokens); // GEGLU's [B, N, 8C] is the widest tensor of a level
            if (materializedAttention && unet.DownBlockTypes[i] == UNetConfig.CrossAttnDownBlock)
                scores = Math.Max(scores, heads[i] * tokens * tokens);
        }
        // Calibrated on the shipped model at 512x512 with guidance (measured on a loaded machine): ONNX Runtime peaked at
        // 19.0 GB RSS, about four [B, heads, N, N] float32 matrices of the first level (17.2 GB) plus the runtime; five are counted.
        double unetBytes = unetBatch * Float * (skips + 4 * widest + 5 * scores);
        // The decoder's top level: a few [B, C0, H, W] tensors live at once (input, GroupNorm out, conv out, residual).
        double vaeBytes = images * Float * 6 * (double)vae.BlockOutChannels[0] * width * height;
        return Math.Max(unetBytes, vaeBytes);
    }

    /// <summary>The environment variable that caps <see cref="AvailableMemoryBytes"/> (in MiB), for a machine shared with others.</summary>
    public const string MaxMemoryVariable = "LATENT_MAX_MEMORY_MB";

    /// <summary>Bytes this process can still allocate without swapping: /proc/meminfo's MemAvailable, else the GC's figure;
    /// at most <c>LATENT_MAX_MEMORY_MB</c> MiB when that is set.</summary>
    public static long AvailableMemoryBytes()
    {
        long system = SystemAvailableBytes();
        return long.TryParse(Environment.GetEnvironmentVariable(MaxMemoryVariable), out long mb) && mb > 0 ? Math.Min(system, mb << 20) : system;
    }

    static long SystemAvailableBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                    && long.TryParse(line["MemAvailable:".Length..].Trim().Split(' ')[0], out long kb))
                    return kb * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>Refuses a config that describes far more parameters than its weights file holds (read from the header only).</summary>
    /// <param name="configPath">The config file, for the message.</param>
    /// <param name="keys">The keys that size the model, for the message (e.g. "block_out_channels, layers_per_block").</param>
    /// <param name="estimate">The parameters the config describes.</param>
    /// <param name="weightsPath">The weights file; only a .safetensors header is read (other formats are not checked here).</param>
    /// <exception cref="ConfigException">The estimate exceeds <see cref="ParameterSlack"/> times the file's count.</exception>
    public static void CheckAgainstWeights(string configPath, string keys, double estimate, string weightsPath)
    {
        if (!weightsPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || !File.Exists(weightsPath)) return;
        double stored;
        using (SafeTensorsFile file = SafeTensors.Open(weightsPath))
            stored = file.Tensors.Sum(t => t.Shape.Aggregate(1.0, (a, d) => a * d));
        if (estimate > ParameterSlack * stored + 1_000_000)
            throw new ConfigException(configPath, null,
                $"{keys} describe a model of {Count(estimate)} parameters but '{weightsPath}' holds {Count(stored)}; expected a config that fits its weights.");
    }

    /// <summary>Refuses work that needs more memory than is available.</summary>
    /// <param name="bytes">The estimate.</param>
    /// <param name="what">What needs it, e.g. "generating 1 image of 65536x65536"; the message adds the numbers.</param>
    /// <param name="available">Available bytes; null reads <see cref="AvailableMemoryBytes"/>.</param>
    /// <exception cref="InsufficientMemoryException">The estimate exceeds the available memory.</exception>
    public static void CheckFits(double bytes, string what, long? available = null)
    {
        long free = available ?? AvailableMemoryBytes();
        if (bytes > free)
            throw new InsufficientMemoryException($"{what} needs about {Size(bytes)} of memory but {Size(free)} is available; expected a smaller request");
    }

    /// <summary>"12.3 GiB", "512 MiB".</summary>
    public static string Size(double bytes) =>
        bytes >= 1L << 50 ? (bytes / (1L << 50)).ToString("N0", System.Globalization.CultureInfo.InvariantCulture) + " PiB"
        : bytes >= 1L << 30 ? (bytes / (1L << 30)).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (1 << 20)).ToString("F0", System.Globalization.CultureInfo.InvariantCulture) + " MiB";

    static string Count(double n) => n >= 1e9 ? $"{n / 1e9:F1} billion" : n >= 1e6 ? $"{n / 1e6:F1} million" : $"{n:F0}";

    static double Linear(double input, double output) => input * output + output;
    static double Conv(double input, double output, int kernel) => input * output * kernel * kernel + output;
    static double Norm(double channels) => 2 * channels;
    static double Resnet(int input, int output, double time) =>
        Norm(input) + Conv(input, output, 3) + (time > 0 ? Linear(time, output) : 0) + Norm(output) + Conv(output, output, 3)
        + (input != output ? Conv(input, output, 1) : 0);

    // Transformer2DModel: GroupNorm, proj_in, depth x BasicTransformerBlock (self attention without q/k/v biases, cross
    // attention with keys and values from the context, GEGLU feed-forward 4x wide, three LayerNorms), proj_out.
    static double Transformer(double c, double cross, int depth) =>
        Norm(c) + 2 * Linear(c, c) + depth * (3 * Norm(c) + 3 * c * c + Linear(c, c) + c * c + 2 * cross * c + Linear(c, c)
                                             + Linear(c, 8 * c) + Linear(4 * c, c));
}
