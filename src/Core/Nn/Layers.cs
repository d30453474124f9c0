using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Nn;

/// <summary>Module factories that work around engine bugs; model code builds these layers only through here.</summary>
public static class Layers
{
    /// <summary>
    /// <c>nn.GroupNorm</c> with its affine weight set to ones and bias to zeros, as PyTorch and TorchSharp's own docs
    /// promise.
    /// </summary>
    /// <remarks>
    /// Works around TorchSharp 0.107.0, whose GroupNorm leaves weight and bias uninitialised (<c>torch.empty</c>:
    /// values like -1.7e11 and NaN were seen), so a fresh network outputs NaN and training from scratch breaks
    /// silently. The test <c>GroupNorm_RawEngineStillLeavesWeightUninitialised</c> fails once a TorchSharp release
    /// fixes it; this method can then return <c>nn.GroupNorm</c> directly.
    /// </remarks>
    /// <param name="numGroups">Groups G; <paramref name="numChannels"/> must be divisible by it.</param>
    /// <param name="numChannels">Channels C of the [B, C, ...] input.</param>
    /// <param name="eps">Added to the variance (diffusers uses 1e-6 in the VAE and U-Net, PyTorch's default is 1e-5).</param>
    /// <param name="affine">Whether the layer has a learnable per-channel weight and bias.</param>
    /// <exception cref="ArgumentException"><paramref name="numChannels"/> is not divisible by <paramref name="numGroups"/>.</exception>
    public static GroupNorm GroupNorm(long numGroups, long numChannels, double eps = 1e-5, bool affine = true)
    {
        if (numGroups <= 0 || numChannels <= 0 || numChannels % numGroups != 0)
            throw new ArgumentException(
                $"GroupNorm needs channels divisible by groups; got {numChannels} channels and {numGroups} groups");
        var norm = nn.GroupNorm(numGroups, numChannels, eps, affine);
        if (affine)
        {
            using var noGrad = torch.no_grad();
            norm.weight!.fill_(Scalars.Of(1.0));
            norm.bias!.zero_();
        }
        return norm;
    }
}
