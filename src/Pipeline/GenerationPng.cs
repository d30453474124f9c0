using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// One generated image as PNG bytes carrying its settings in AUTOMATIC1111's <c>parameters</c> text chunk: the one
/// encoder that <c>latent txt2img</c>'s files and <c>latent serve</c>'s base64 images both use.
/// </summary>
public static class GenerationPng
{
    /// <summary>Encodes <paramref name="image"/> as PNG and stores <paramref name="parameters"/>' A1111 text under <c>parameters</c>.</summary>
    /// <param name="image">One image, [3, H, W] in [-1, 1] (e.g. <c>result.Images[i]</c>).</param>
    /// <param name="parameters">How it was made (e.g. <c>result.Parameters[i]</c>).</param>
    /// <exception cref="ArgumentException">The shape is not [3, H, W] or [1, H, W], the tensor holds NaN, or the parameters do not format.</exception>
    public static byte[] Encode(Tensor image, GenerationParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return PngText.Write(ImageIO.EncodePng(image), GenerationParameters.PngKeyword, parameters.Format());
    }
}
