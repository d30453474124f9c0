using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Latent.Vae;

namespace Latent.Training.Vae;

/// <summary>
/// The PatchGAN discriminator of pix2pix, as CompVis' <c>NLayerDiscriminator</c> (taming-transformers) that trained SD's
/// VAE: it scores overlapping patches of an image as real (positive logits) or reconstructed (negative).
/// </summary>
/// <remarks>
/// <para>Layers (k = 4, padding 1, LeakyReLU 0.2): conv(3 → ndf, stride 2); for n = 1 .. layers − 1:
/// conv(ndf·m(n−1) → ndf·m(n), stride 2, no bias) + BatchNorm; conv(→ ndf·m(layers), stride 1, no bias) + BatchNorm;
/// conv(→ 1, stride 1), with m(n) = min(2^n, 8). A 64x64 image with 3 layers gives 6x6 patch logits.</para>
/// <para>Keys are CompVis' (<c>main.0.weight</c>, <c>main.2.weight</c>, <c>main.3.running_mean</c>, ...). Weights start
/// as CompVis' <c>weights_init</c>: convs N(0, 0.02), BatchNorm scales N(1, 0.02), every bias 0 (CompVis keeps PyTorch's default for
/// the two conv biases), drawn from torch's
/// global generator (seed it first). TorchSharp's BatchNorm is initialised here explicitly, statistics included, so
/// that its state never depends on uninitialised memory (see ENGINE.md on GroupNorm).</para>
/// </remarks>
public sealed class NLayerDiscriminator : nn.Module<Tensor, Tensor>
{
    private readonly Sequential main;

    /// <summary>Creates the discriminator with CompVis' initialisation.</summary>
    /// <param name="inputChannels">Image channels (3).</param>
    /// <param name="channels">ndf, the first layer's width (CompVis: 64).</param>
    /// <param name="layers">Stride-2 layers (CompVis: 3), 1 to 5.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range.</exception>
    public NLayerDiscriminator(int inputChannels = 3, int channels = 64, int layers = 3) : base(nameof(NLayerDiscriminator))
    {
        if (inputChannels < 1) throw new ArgumentOutOfRangeException(nameof(inputChannels), inputChannels, "expected >= 1");
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "expected >= 1");
        if (layers is < 1 or > 5) throw new ArgumentOutOfRangeException(nameof(layers), layers, "expected 1 to 5");
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>
        {
            ("0", nn.Conv2d(inputChannels, channels, 4, stride: 2, padding: 1)),
            ("1", nn.LeakyReLU(0.2)),
        };
        int multiple = 1;
        for (int n = 1; n <= layers; n++)
        {
            int previous = multiple;
            multiple = Math.Min(1 << n, 8);
            int stride = n < layers ? 2 : 1;
            modules.Add(($"{modules.Count}", nn.Conv2d(channels * previous, channels * multiple, 4, stride: stride, padding: 1, bias: false)));
            modules.Add(($"{modules.Count}", nn.BatchNorm2d(channels * multiple)));
            modules.Add(($"{modules.Count}", nn.LeakyReLU(0.2)));
        }
        modules.Add(($"{modules.Count}", nn.Conv2d(channels * multiple, 1, 4, stride: 1, padding: 1)));
        main = nn.Sequential(modules);
        RegisterComponents();
        Initialize();
    }

    /// <summary>Scores the patches of <paramref name="x"/>.</summary>
    /// <param name="x">[B, 3, H, W] images in [-1, 1].</param>
    /// <returns>[B, 1, h, w] patch logits (h = w = 6 for 64x64 and 3 layers).</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, 3, H, W] -> [B, 1, h, w]
        using var scope = NewDisposeScope();
        return main.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>The side of the patch-logit map for an input of side <paramref name="size"/>: each stride-2 conv
    /// (k 4, p 1) maps s to floor(s / 2), each stride-1 conv s to s − 1.</summary>
    /// <param name="size">The input side in pixels.</param>
    /// <param name="layers">The stride-2 layers.</param>
    /// <returns>The output side; below 1 when the input is too small for that many layers.</returns>
    public static int OutputSize(int size, int layers)
    {
        for (int i = 0; i < layers; i++) size /= 2;
        return size - 2;
    }

    private void Initialize()
    {
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (p.dim() == 4) p.normal_(0.0, 0.02);                                           // conv kernels
            else if (name.EndsWith(".weight", StringComparison.Ordinal)) p.normal_(1.0, 0.02);  // BatchNorm scales
            else p.zero_();                                                                  // every bias
        }
        foreach (var (name, b) in named_buffers())
        {
            if (name.EndsWith("running_var", StringComparison.Ordinal)) b.fill_(Scalars.Of(1.0));
            else b.zero_();                                                                  // running_mean, num_batches_tracked
        }
    }
}
