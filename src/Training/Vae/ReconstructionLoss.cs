using Latent.Vae;

namespace Latent.Training.Vae;

/// <summary>The pixel loss between an image and its reconstruction.</summary>
public enum ReconstructionLoss
{
    /// <summary>|x − x̂|: CompVis' choice for SD's VAE (with LPIPS, which we lack); sharper edges than L2.</summary>
    L1,

    /// <summary>(x − x̂)²: optimises PSNR directly, but blurs more.</summary>
    L2,
}
