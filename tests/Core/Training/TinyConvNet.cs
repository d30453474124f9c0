using Latent.Core.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

/// <summary>A small conv net with GroupNorm and dropout, so that both the weights and the global RNG matter.</summary>
internal sealed class TinyConvNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly GroupNorm norm;
    private readonly Dropout dropout;
    private readonly Conv2d conv_out;

    public TinyConvNet(int channels = 8, double dropoutP = 0.1) : base(nameof(TinyConvNet))
    {
        conv_in = nn.Conv2d(3, channels, 3, padding: 1);
        norm = Layers.GroupNorm(4, channels);
        dropout = nn.Dropout(dropoutP);
        conv_out = nn.Conv2d(channels, 3, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        // x: [B, 3, H, W] -> [B, 3, H, W]
        var h = nn.functional.silu(norm.forward(conv_in.forward(x)));
        return conv_out.forward(dropout.forward(h));
    }
}
