using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.Core.Nn;
using Latent.Core.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> (the SD 1.x/2.x denoiser): predicts the noise (or v) of latents
/// <c>sample</c> at <c>timestep</c>, conditioned on text states through cross-attention.
/// </summary>
/// <remarks>
/// <para>Recipe (diffusers 0.21's forward): 1. timestep -> sinusoidal <c>time_proj</c> -> MLP <c>time_embedding</c> = temb;
/// 2. <c>conv_in</c>; 3. each down level runs ResNets (+ transformers) and keeps its outputs as skips; 4. the mid block;
/// 5. each up level concatenates the skips in reverse order; 6. <c>conv_norm_out</c> -> SiLU -> <c>conv_out</c>.</para>
/// <para>Keys are diffusers': <c>conv_in</c>, <c>time_embedding.linear_{1,2}</c>, <c>down_blocks.{i}</c>, <c>mid_block</c>,
/// <c>up_blocks.{i}</c>, <c>conv_norm_out</c>, <c>conv_out</c> (<c>time_proj</c> and <c>conv_act</c> have no weights).
/// Latent sides must be divisible by 2^(levels - 1) (diffusers' odd-size path, upsampling to the skip's size, is not
/// implemented).</para>
/// </remarks>
public sealed class UNet2DConditionModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>The config file inside a model folder.</summary>
    public const string ConfigFileName = PretrainedFolder.ConfigFileName;

    /// <summary>The weights file inside a model folder.</summary>
    public const string WeightsFileName = "diffusion_pytorch_model.safetensors";

    private readonly Conv2d conv_in;
    private readonly Timesteps time_proj;
    private readonly TimestepEmbedding time_embedding;
    private readonly ModuleList<nn.Module> down_blocks;
    private readonly UNetMidBlock2DCrossAttn mid_block;
    private readonly ModuleList<nn.Module> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    /// <summary>Builds the U-Net with fresh weights.</summary>
    /// <param name="config">The architecture; validated here.</param>
    /// <exception cref="ConfigException">The config is invalid or selects an unsupported option.</exception>
    public UNet2DConditionModel(UNetConfig config) : base(nameof(UNet2DConditionModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int levels = config.BlockOutChannels.Length;
        int[] channels = config.BlockOutChannels;
        int[] heads = config.HeadsPerBlock;
        int[] crossDims = config.CrossAttentionDim.PerBlock(levels);
        int[] layers = config.LayersPerBlock.PerBlock(levels);
        int[] transformerLayers = config.TransformerLayersPerBlock.PerBlock(levels);
        long temb = config.TimeEmbedDim;
        int groups = config.NormNumGroups;
        double eps = config.NormEps;

        conv_in = nn.Conv2d(config.InChannels, channels[0], config.ConvInKernel, padding: (config.ConvInKernel - 1) / 2);
        time_proj = new Timesteps("time_proj", channels[0], config.FlipSinToCos, config.FreqShift);
        time_embedding = new TimestepEmbedding("time_embedding", channels[0], temb);

        var down = new List<nn.Module>();
        for (int i = 0; i < levels; i++)
        {
            long input = i == 0 ? channels[0] : channels[i - 1];
            bool last = i == levels - 1;
            down.Add(config.DownBlockTypes[i] == UNetConfig.CrossAttnDownBlock
                ? new CrossAttnDownBlock2D(i.ToString(), input, channels[i], temb, layers[i], transformerLayers[i], heads[i], crossDims[i],
                    addDownsample: !last, groups, eps, config.ResnetOutScaleFactor, config.DownsamplePadding,
                    config.UseLinearProjection, config.OnlyCrossAttention, config.UpcastAttention)
                : new DownBlock2D(i.ToString(), input, channels[i], temb, layers[i], addDownsample: !last, groups, eps,
                    config.ResnetOutScaleFactor, config.DownsamplePadding));
        }
        down_blocks = nn.ModuleList(down.ToArray());

        mid_block = new UNetMidBlock2DCrossAttn("mid_block", channels[^1], temb, transformerLayers[^1], heads[^1], crossDims[^1],
            groups, eps, config.MidBlockScaleFactor, config.UseLinearProjection, config.UpcastAttention);

        // Up levels mirror the down levels: level i of the up path is down level (levels - 1 - i).
        var up = new List<nn.Module>();
        for (int i = 0; i < levels; i++)
        {
            int mirror = levels - 1 - i;
            long prev = i == 0 ? channels[^1] : channels[mirror + 1];
            long input = channels[Math.Max(mirror - 1, 0)];
            bool last = i == levels - 1;
            up.Add(config.UpBlockTypes[i] == UNetConfig.CrossAttnUpBlock
                ? new CrossAttnUpBlock2D(i.ToString(), input, prev, channels[mirror], temb, layers[mirror] + 1, transformerLayers[mirror],
                    heads[mirror], crossDims[mirror], addUpsample: !last, groups, eps, config.ResnetOutScaleFactor,
                    config.UseLinearProjection, config.OnlyCrossAttention, config.UpcastAttention)
                : new UpBlock2D(i.ToString(), input, prev, channels[mirror], temb, layers[mirror] + 1, addUpsample: !last, groups, eps,
                    config.ResnetOutScaleFactor));
        }
        up_blocks = nn.ModuleList(up.ToArray());

        conv_norm_out = Layers.GroupNorm(groups, channels[0], eps);
        conv_out = nn.Conv2d(channels[0], config.OutChannels, config.ConvOutKernel, padding: (config.ConvOutKernel - 1) / 2);
        RegisterComponents();
    }

    /// <summary>The architecture this model was built from.</summary>
    public UNetConfig Config { get; }

    /// <summary>Latent sides must be multiples of this (2^(levels - 1)).</summary>
    public int SizeMultiple => 1 << (Config.BlockOutChannels.Length - 1);

    /// <summary>Predicts the noise (or v) for the latents.</summary>
    /// <param name="sample">[B, in_channels, H, W] noisy latents; H and W multiples of <see cref="SizeMultiple"/>.</param>
    /// <param name="timestep">A 0-dim, [1] or [B] tensor of integer or float timesteps (a scalar or [1] is broadcast to the batch).</param>
    /// <param name="encoderHiddenStates">[B, T, cross_attention_dim] text states.</param>
    /// <returns>[B, out_channels, H, W], in the dtype of the module.</returns>
    public override Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates) =>
        Forward(sample, timestep, encoderHiddenStates, cache: null, trace: null);

    /// <summary>As <see cref="forward"/>, with the attention's per-generation precomputations (<see cref="PrepareAttention"/>):
    /// the denoising loop calls the U-Net many times with the same text states.</summary>
    /// <param name="sample">[B, in_channels, H, W] noisy latents.</param>
    /// <param name="timestep">A 0-dim, [1] or [B] tensor of timesteps.</param>
    /// <param name="encoderHiddenStates">[B, T, cross_attention_dim]: the tensor the cache was built from.</param>
    /// <param name="cache">From <see cref="PrepareAttention"/>, or null.</param>
    /// <returns>[B, out_channels, H, W].</returns>
    /// <exception cref="ArgumentException">A shape is wrong, or the cache was built from other text states.</exception>
    public Tensor Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, AttentionCache? cache) =>
        Forward(sample, timestep, encoderHiddenStates, cache, trace: null);

    /// <summary>
    /// Computes what every call with these text states repeats: each cross-attention's keys and values of
    /// <paramref name="encoderHiddenStates"/>, and each self-attention's q/k/v weights fused into one matrix
    /// (<see cref="AttentionCache"/>). Inference only (no gradients); rebuild it for other states or changed weights.
    /// </summary>
    /// <param name="encoderHiddenStates">[B, T, D] in the module's dtype; keep it alive while the cache is used.</param>
    /// <returns>The cache; the caller disposes it.</returns>
    /// <exception cref="ArgumentException">The states' width is not the cross-attention width.</exception>
    public AttentionCache PrepareAttention(Tensor encoderHiddenStates)
    {
        ArgumentNullException.ThrowIfNull(encoderHiddenStates);
        int width = Config.CrossAttentionDim.PerBlock(Config.BlockOutChannels.Length)[0];
        if (encoderHiddenStates.dim() != 3 || encoderHiddenStates.shape[2] != width)
            throw new ArgumentException(
                $"UNet2DConditionModel expects encoderHiddenStates as [B, T, {width}]; got shape [{string.Join(", ", encoderHiddenStates.shape)}]",
                nameof(encoderHiddenStates));
        return AttentionCache.Build(modules().OfType<Attention>(), encoderHiddenStates);
    }

    /// <summary>As <see cref="forward"/>, reporting the output of each top-level stage to <paramref name="trace"/> (for parity debugging).</summary>
    internal Tensor Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Action<string, Tensor>? trace) =>
        Forward(sample, timestep, encoderHiddenStates, cache: null, trace);

    Tensor Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, AttentionCache? cache, Action<string, Tensor>? trace)
    {
        // sample: [B, Cin, H, W], timestep: [] / [1] / [B], encoderHiddenStates: [B, T, D] -> [B, Cout, H, W]
        CheckInputs(sample, timestep, encoderHiddenStates);
        using var scope = NewDisposeScope();
        long b = sample.shape[0];
        var x = Config.CenterInputSample ? Scalars.Of(2) * sample - Scalars.Of(1.0) : sample;

        // 1. Time: [] or [1] -> [B]; [B] -> [B, C0] (float32) -> [B, Temb] in the module's dtype.
        var timesteps = (timestep.dim() == 0 ? timestep.reshape(1) : timestep).expand(b);
        var tProj = time_proj.forward(timesteps).to(sample.dtype);
        trace?.Invoke("time_proj", tProj);
        var temb = time_embedding.forward(tProj);
        trace?.Invoke("time_embedding", temb);

        // 2-3. Down path: skips start with conv_in's output.
        x = conv_in.forward(x);
        trace?.Invoke("conv_in", x);
        var skips = new List<Tensor> { x };
        for (int i = 0; i < down_blocks.Count; i++)
        {
            var outputs = ((IUNetDownBlock)down_blocks[i]).Forward(x, temb, encoderHiddenStates, cache);
            skips.AddRange(outputs);
            x = outputs[^1];
            trace?.Invoke($"down_blocks.{i}", x);
        }

        // 4. Mid block.
        x = mid_block.Forward(x, temb, encoderHiddenStates, cache);
        trace?.Invoke("mid_block", x);

        // 5. Up path: each level takes the last SkipCount skips.
        for (int i = 0; i < up_blocks.Count; i++)
        {
            var block = (IUNetUpBlock)up_blocks[i];
            var levelSkips = skips.GetRange(skips.Count - block.SkipCount, block.SkipCount);
            skips.RemoveRange(skips.Count - block.SkipCount, block.SkipCount);
            x = block.Forward(x, levelSkips, temb, encoderHiddenStates, cache);
            trace?.Invoke($"up_blocks.{i}", x);
        }

        // 6. Output: [B, C0, H, W] -> [B, Cout, H, W].
        x = conv_norm_out.forward(x);
        trace?.Invoke("conv_norm_out", x);
        x = conv_out.forward(nn.functional.silu(x));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Writes this U-Net's forward (eval mode, float32) as an ONNX model for ONNX Runtime: inputs <c>sample</c>
    /// [batch, Cin, height, width], <c>timestep</c> [batch] (float32) and <c>encoder_hidden_states</c> [batch, sequence, D];
    /// output <c>out_sample</c> [batch, Cout, height, width]. The names are those of diffusers' ONNX exports; batch, size
    /// and sequence length are symbolic.
    /// </summary>
    /// <remarks>Each module writes its own nodes (<c>ExportOnnx</c> beside its <c>forward</c>); a test compares ONNX Runtime's
    /// output with <see cref="forward"/> for several configs. Weights of any dtype are exported as float32.</remarks>
    /// <param name="textKeyValueInputs">Take each cross-attention's keys and values as inputs (<c>{key}.key</c> [batch, heads, d,
    /// sequence] and <c>{key}.value</c> [batch, heads, sequence, d], from <see cref="ExportTextKeyValuesOnnx"/>, once per
    /// generation) instead of <c>encoder_hidden_states</c>.</param>
    /// <param name="linearWeights">How the linear layers (time embedding, each ResNet's time projection, attention
    /// projections, feed-forward, linear proj_in/proj_out) are stored: float32 (the default), or
    /// <see cref="OnnxLinearWeights.DynamicInt8"/> (int8 weights, ONNX Runtime only, approximate).</param>
    /// <returns>The bytes of a .onnx file (opset <see cref="OnnxGraph.Opset"/>).</returns>
    /// <exception cref="NotSupportedException">The weights exceed 2 GiB (one protobuf message), or a block uses an option the export does not cover.</exception>
    public byte[] ExportOnnx(bool textKeyValueInputs = false, OnnxLinearWeights linearWeights = OnnxLinearWeights.Float32)
    {
        // sample: [B, Cin, H, W], timestep: [B], encoder_hidden_states: [B, T, D] -> out_sample: [B, Cout, H, W]
        if (!Enum.IsDefined(linearWeights))
            throw new ArgumentException($"linearWeights is {linearWeights}; expected Float32 or DynamicInt8", nameof(linearWeights));
        var g = new OnnxGraph("unet") { TextKeyValueInputs = textKeyValueInputs, LinearWeights = linearWeights };
        int width = Config.CrossAttentionDim.PerBlock(Config.BlockOutChannels.Length)[0];
        string sample = g.Input("sample", "batch", (long)Config.InChannels, "height", "width");
        string timestep = g.Input("timestep", "batch");
        // With key/value inputs no block reads the states themselves: the attentions ignore this name.
        string context = textKeyValueInputs ? "" : g.Input("encoder_hidden_states", "batch", "sequence", (long)width);
        string x = Config.CenterInputSample ? g.Node("Sub", [g.Node("Mul", [sample, g.Scalar("two", 2)]), g.Scalar("one", 1)]) : sample;

        // 1. Time: [B] -> [B, C0] -> [B, Temb].
        string temb = time_embedding.ExportOnnx(g, "time_embedding", time_proj.ExportOnnx(g, "time_proj", timestep));

        // 2-3. Down path: skips start with conv_in's output.
        x = g.Conv("conv_in", conv_in, x, padding: (Config.ConvInKernel - 1) / 2);
        var skips = new List<string> { x };
        for (int i = 0; i < down_blocks.Count; i++)
        {
            string[] outputs = ((IUNetDownBlock)down_blocks[i]).ExportOnnx(g, $"down_blocks.{i}", x, temb, context);
            skips.AddRange(outputs);
            x = outputs[^1];
        }

        // 4. Mid block.
        x = mid_block.ExportOnnx(g, "mid_block", x, temb, context);

        // 5. Up path: each level takes the last SkipCount skips.
        for (int i = 0; i < up_blocks.Count; i++)
        {
            var block = (IUNetUpBlock)up_blocks[i];
            var levelSkips = skips.GetRange(skips.Count - block.SkipCount, block.SkipCount);
            skips.RemoveRange(skips.Count - block.SkipCount, block.SkipCount);
            x = block.ExportOnnx(g, $"up_blocks.{i}", x, levelSkips, temb, context);
        }

        // 6. Output: [B, C0, H, W] -> [B, Cout, H, W].
        x = g.Conv("conv_out", conv_out, g.Silu(g.GroupNorm("conv_norm_out", conv_norm_out, x)), padding: (Config.ConvOutKernel - 1) / 2);
        g.Output(x, "out_sample", "batch", (long)Config.OutChannels, "height", "width");
        return g.ToModel();
    }

    /// <summary>
    /// Writes the graph that computes what <see cref="ExportOnnx"/> with key/value inputs reads: input
    /// <c>encoder_hidden_states</c> [batch, sequence, D]; per cross-attention (named by its state-dict prefix, in module
    /// order) outputs <c>{key}.key</c> [batch, heads, d, sequence] and <c>{key}.value</c> [batch, heads, sequence, d].
    /// </summary>
    /// <returns>The bytes of a .onnx file.</returns>
    public byte[] ExportTextKeyValuesOnnx()
    {
        var g = new OnnxGraph("unet_text_key_values");
        int width = Config.CrossAttentionDim.PerBlock(Config.BlockOutChannels.Length)[0];
        string context = g.Input("encoder_hidden_states", "batch", "sequence", (long)width);
        foreach (var (name, module) in named_modules())
        {
            if (module is not Attention { IsCrossAttention: true } attention) continue;
            var (k, v) = attention.ExportKeyValuesOnnx(g, name, context);
            g.Output(k, $"{name}.key", "batch", (long)attention.Heads, attention.HeadDim, "sequence");
            g.Output(v, $"{name}.value", "batch", (long)attention.Heads, "sequence", attention.HeadDim);
        }
        return g.ToModel();
    }

    /// <summary>Checks the inputs of a call as <see cref="forward"/> does (also used by other engines that run this U-Net).</summary>
    /// <param name="sample">[B, Cin, H, W] with H and W multiples of <see cref="SizeMultiple"/>.</param>
    /// <param name="timestep">[], [1] or [B], integer or float.</param>
    /// <param name="context">[B, T, D] with D the cross-attention width.</param>
    /// <exception cref="ArgumentException">A shape or dtype is wrong; the message names the received and the expected shape.</exception>
    public void CheckInputs(Tensor sample, Tensor timestep, Tensor context) => CheckInputs(Config, sample, timestep, context);

    /// <summary>Checks the inputs of a call from the config alone (an engine that runs this U-Net without building it).</summary>
    /// <param name="config">The U-Net's config.</param>
    /// <param name="sample">[B, Cin, H, W] with H and W multiples of 2^(levels - 1).</param>
    /// <param name="timestep">[], [1] or [B], integer or float.</param>
    /// <param name="context">[B, T, D] with D the cross-attention width.</param>
    /// <exception cref="ArgumentException">A shape or dtype is wrong; the message names the received and the expected shape.</exception>
    public static void CheckInputs(UNetConfig config, Tensor sample, Tensor timestep, Tensor context)
    {
        int multiple = 1 << (config.BlockOutChannels.Length - 1);
        if (sample.dim() != 4 || sample.shape[1] != config.InChannels
            || sample.shape[2] % multiple != 0 || sample.shape[3] % multiple != 0)
            throw new ArgumentException(
                $"UNet2DConditionModel expects sample as [B, {config.InChannels}, H, W] with H and W multiples of {multiple}; got shape [{string.Join(", ", sample.shape)}]",
                nameof(sample));
        long b = sample.shape[0];
        bool shapeOk = timestep.dim() == 0 || (timestep.dim() == 1 && (timestep.shape[0] == 1 || timestep.shape[0] == b));
        if (!shapeOk || timestep.dtype == ScalarType.Bool || timestep.is_complex())
            throw new ArgumentException(
                $"UNet2DConditionModel expects timestep as a 0-dim, [1] or [{b}] integer or float tensor; got shape [{string.Join(", ", timestep.shape)}] of {timestep.dtype}",
                nameof(timestep));
        int width = config.CrossAttentionDim.PerBlock(config.BlockOutChannels.Length)[0];
        if (context.dim() != 3 || context.shape[0] != b || context.shape[2] != width)
            throw new ArgumentException(
                $"UNet2DConditionModel expects encoderHiddenStates as [{b}, T, {width}]; got shape [{string.Join(", ", context.shape)}]",
                nameof(context));
    }

    /// <summary>Loads a diffusers U-Net folder (config.json + diffusion_pytorch_model.safetensors), strictly.</summary>
    /// <param name="directory">The folder, e.g. a pipeline's <c>unet/</c>.</param>
    /// <returns>The model in eval mode, float32 (the file's dtype is converted).</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The config or weights file is missing.</exception>
    /// <exception cref="ConfigException">The config is invalid or unsupported.</exception>
    /// <exception cref="StateDictMismatchException">A key is missing, unexpected or mis-shaped.</exception>
    public static UNet2DConditionModel FromPretrained(string directory) =>
        PretrainedFolder.Load<UNetConfig, UNet2DConditionModel>(directory, WeightsFileName, UNetConfig.ClassNameValue,
            (config, source) => config.Validate(source), config => new UNet2DConditionModel(config));

    /// <summary>Writes the model as a diffusers folder: the weights, then config.json, each file atomically.</summary>
    /// <param name="directory">The folder; created when missing.</param>
    /// <param name="dtype">Dtype of the stored weights: Float32, Float16 or BFloat16.</param>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not one of those.</exception>
    public void SavePretrained(string directory, ScalarType dtype = ScalarType.Float32) =>
        PretrainedFolder.Save(this, directory, WeightsFileName, Config with { ClassName = UNetConfig.ClassNameValue }, dtype);
}
