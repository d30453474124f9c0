using Latent.Core.Nn;
using Latent.UNetCrossAttn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Pipeline.Guidance;

/// <summary>
/// p_phi(y | x_t, t): a timestep-conditioned classifier of noisy latents for classifier guidance (Dhariwal &amp; Nichol
/// 2021): x_t [B, C, h, w] and t [B] -> logits [B, K]. See <see cref="NoisyLatentClassifierConfig"/> for the layers.
/// </summary>
/// <remarks>
/// State-dict keys (diffusers-style): <c>conv_in</c>, <c>time_embedding.linear_1/2</c> (over the sinusoidal embedding of
/// t, as the U-Net's), <c>blocks.{i}</c> (ResnetBlock2D: norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut),
/// <c>downsamplers.{i}</c>, <c>norm_out</c>, <c>classifier</c>. Pure: loading and saving live in <see cref="ClassifierFolder"/>.
/// </remarks>
public sealed class NoisyLatentClassifier : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Timesteps time_proj;
    private readonly TimestepEmbedding time_embedding;
    private readonly Conv2d conv_in;
    private readonly ModuleList<ResnetBlock2D> blocks;
    private readonly ModuleList<Conv2d> downsamplers;
    private readonly GroupNorm norm_out;
    private readonly Linear classifier;

    /// <summary>Builds the classifier with fresh weights (seed the global generator first for reproducible ones).</summary>
    /// <exception cref="ArgumentException">The config is invalid.</exception>
    public NoisyLatentClassifier(NoisyLatentClassifierConfig config) : base(nameof(NoisyLatentClassifier))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int[] widths = config.BlockOutChannels;
        time_proj = new Timesteps("time_proj", widths[0], flipSinToCos: true, downscaleFreqShift: 0);
        time_embedding = new TimestepEmbedding("time_embedding", widths[0], config.TimeEmbedDim);
        conv_in = nn.Conv2d(config.InChannels, widths[0], 3, padding: 1);
        blocks = new ModuleList<ResnetBlock2D>();
        downsamplers = new ModuleList<Conv2d>();
        for (int i = 0; i < widths.Length; i++)
        {
            int input = i == 0 ? widths[0] : widths[i - 1];
            if (i > 0) downsamplers.Add(nn.Conv2d(input, input, 3, stride: 2, padding: 1));
            blocks.Add(new ResnetBlock2D($"blocks.{i}", input, widths[i], tembChannels: config.TimeEmbedDim, groups: config.NormNumGroups, eps: 1e-5));
        }
        norm_out = Layers.GroupNorm(config.NormNumGroups, widths[^1]);
        classifier = nn.Linear(widths[^1], config.NumClasses);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public NoisyLatentClassifierConfig Config { get; }

    /// <summary>Logits of the classes.</summary>
    /// <param name="x">x_t: [B, C, h, w] (h = w = sample_size or any multiple of 2^(levels - 1)).</param>
    /// <param name="t">The timesteps: [B] (float or integer).</param>
    /// <returns>[B, K].</returns>
    /// <exception cref="ArgumentException">x is not [B, C, h, w] or t is not [B].</exception>
    public override Tensor forward(Tensor x, Tensor t)
    {
        // x: [B, C, h, w], t: [B] -> [B, K]
        if (x.dim() != 4 || x.shape[1] != Config.InChannels)
            throw new ArgumentException($"the classifier expects latents [B, {Config.InChannels}, h, w]; got [{string.Join(", ", x.shape)}].", nameof(x));
        if (t.dim() != 1 || t.shape[0] != x.shape[0])
            throw new ArgumentException($"the classifier expects one timestep per latent, [{x.shape[0]}]; got [{string.Join(", ", t.shape)}].", nameof(t));
        using var scope = NewDisposeScope();
        Tensor emb = time_embedding.call(time_proj.call(t).to(x.dtype));          // [B, D]
        Tensor h = conv_in.call(x);                                               // [B, C0, h, w]
        for (int i = 0; i < blocks.Count; i++)
        {
            if (i > 0) h = downsamplers[i - 1].call(h);                           // [B, C(i-1), h/2, w/2]
            h = blocks[i].call(h, emb);                                           // [B, Ci, h, w]
        }
        h = nn.functional.silu(norm_out.call(h)).mean([2L, 3L]);                  // [B, C_last]
        return classifier.call(h).MoveToOuterDisposeScope();                      // [B, K]
    }
}
