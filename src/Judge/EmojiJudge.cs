using Latent.Core.Engine;
using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Judge;

/// <summary>
/// The emoji classifier that judges generated images: [B, 3, S, S] in [-1, 1] -> logits [B, K] over base emoji, and the
/// penultimate feature vector [B, D] (for a Fréchet distance). See <see cref="JudgeConfig"/> for the architecture.
/// </summary>
/// <remarks>
/// State-dict keys: <c>conv_in</c>, <c>blocks.{i}</c> (diffusers' ResnetBlock2D keys: norm1, conv1, norm2, conv2,
/// conv_shortcut), <c>downsamplers.{i}</c> (the stride-2 convs between stages), <c>norm_out</c>, <c>classifier</c>.
/// The model is pure: loading and saving live in <see cref="JudgeFolder"/>.
/// </remarks>
public sealed class EmojiJudge : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly ModuleList<ResnetBlock2D> blocks;
    private readonly ModuleList<Conv2d> downsamplers;
    private readonly GroupNorm norm_out;
    private readonly Linear classifier;

    /// <summary>Builds the judge with fresh weights (seed the global generator first for reproducible ones).</summary>
    /// <exception cref="ArgumentException">The config is invalid.</exception>
    public EmojiJudge(JudgeConfig config) : base(nameof(EmojiJudge))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var widths = config.BlockOutChannels;
        conv_in = nn.Conv2d(3, widths[0], config.StemStride, stride: config.StemStride);
        blocks = new ModuleList<ResnetBlock2D>();
        downsamplers = new ModuleList<Conv2d>();
        for (int i = 0; i < widths.Length; i++)
        {
            int input = i == 0 ? widths[0] : widths[i - 1];
            if (i > 0) downsamplers.Add(nn.Conv2d(input, input, 3, stride: 2, padding: 1));
            blocks.Add(new ResnetBlock2D($"blocks.{i}", input, widths[i], tembChannels: null, groups: config.NormNumGroups, eps: 1e-5));
        }
        norm_out = Layers.GroupNorm(config.NormNumGroups, widths[^1]);
        classifier = nn.Linear(widths[^1], config.NumClasses, hasBias: config.CosineScale == 0);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public JudgeConfig Config { get; }

    /// <summary>Logits only.</summary>
    // x: [B, 3, S, S] -> [B, K]
    public override Tensor forward(Tensor x) => Classify(x).Logits;

    /// <summary>Logits and features of a batch.</summary>
    /// <param name="x">[B, 3, S, S] in [-1, 1].</param>
    /// <returns>Logits [B, K] and features [B, D] (D = the last stage's channels).</returns>
    /// <exception cref="ArgumentException">The input is not [B, 3, S, S].</exception>
    public (Tensor Logits, Tensor Features) Classify(Tensor x)
    {
        // x: [B, 3, S, S] -> logits [B, K], features [B, D]
        int s = Config.ImageSize;
        if (x.dim() != 4 || x.shape[1] != 3 || x.shape[2] != s || x.shape[3] != s)
            throw new ArgumentException($"the judge expects images [B, 3, {s}, {s}]; got [{string.Join(", ", x.shape)}].", nameof(x));
        using var scope = NewDisposeScope();
        var h = conv_in.call(x);                                        // [B, C0, S/r, S/r], r = stem stride
        for (int i = 0; i < blocks.Count; i++)
        {
            if (i > 0) h = downsamplers[i - 1].call(h);                 // [B, C(i-1), H/2, W/2]
            h = blocks[i].call(h, null);                                // [B, Ci, H, W]
        }
        h = nn.functional.silu(norm_out.call(h));
        var features = h.mean([2L, 3L]);                                // [B, D]
        var logits = Config.CosineScale == 0
            ? classifier.call(features)                                 // [B, K]
            : UnitRows(features).matmul(UnitRows(classifier.weight!).t()).mul(Scalars.Of(Config.CosineScale));   // s · cos, [B, K]
        return (logits.MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }

    // [N, D] -> [N, D] with unit L2 rows (eps keeps a zero row finite)
    static Tensor UnitRows(Tensor x) => x.mul(x.pow(Scalars.Of(2)).sum([1L], keepdim: true).clamp_min(Scalars.Of(1e-12)).rsqrt());
}
