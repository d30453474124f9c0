using Latent.Core.IO;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.SingleFile;

/// <summary>
/// Writes our modules as one SD 1.x single file with the original LDM key names (the inverse of
/// <see cref="SingleFileCheckpoint"/>, with the same <see cref="LdmKeyMap"/>), as diffusers'
/// <c>convert_diffusers_to_original_stable_diffusion.py</c> does.
/// </summary>
internal static class SingleFileWriter
{
    /// <summary>Writes <paramref name="path"/> atomically, every tensor as <paramref name="dtype"/>.</summary>
    /// <exception cref="InvalidDataException">A weight of ours has no LDM name (an architecture the single-file layout cannot hold).</exception>
    public static void Write(string path, UNet2DConditionModel unet, AutoencoderKL vae, ClipTextModel textEncoder, ScalarType dtype)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"dtype is {dtype}; expected Float32, Float16 or BFloat16", nameof(dtype));
        var map = new LdmKeyMap(SingleFileArchitecture.LayoutOf(unet.Config, vae.Config));
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var unmapped = new List<string>();
        foreach (var (component, module) in new (SingleFileComponent, nn.Module)[]
                 { (SingleFileComponent.UNet, unet), (SingleFileComponent.Vae, vae), (SingleFileComponent.TextEncoder, textEncoder) })
        {
            foreach (var (key, value) in module.state_dict())
            {
                if (map.ToLdm(component, key) is not { } ldm) { unmapped.Add($"{component}: {key}"); continue; }
                Tensor t = value.detach().to(dtype);
                // Our [C, C] linear attention weights are LDM's [C, C, 1, 1] convs.
                tensors[ldm.LdmKey] = ldm.UnsqueezeConv && t.dim() == 2 ? t.reshape(t.shape[0], t.shape[1], 1, 1) : t;
            }
        }
        if (unmapped.Count > 0)
            throw new InvalidDataException($"{unmapped.Count} weight(s) have no single-file name: {string.Join(", ", unmapped.Take(20))}");
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }
}
