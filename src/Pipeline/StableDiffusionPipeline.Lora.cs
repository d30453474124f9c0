using Latent.Pipeline.Denoising;
using Latent.Pipeline.Lora;
using static TorchSharp.torch;

namespace Latent.Pipeline;

// LoRAs: fused into the weights, and taken out exactly, so one loaded pipeline serves calls with different LoRAs.
public sealed partial class StableDiffusionPipeline
{
    LoraFuser? loraFuser;
    IReadOnlyList<LoraSpec> loras = [];
    IReadOnlyList<string> loraHashes = [];

    /// <summary>The LoRAs fused into the weights now, in the order given to <see cref="SetLoras"/>.</summary>
    public IReadOnlyList<LoraSpec> Loras { get { lock (gate) return loras; } }

    /// <summary>
    /// Replaces the fused LoRAs with <paramref name="specs"/> (an empty list restores the original weights exactly).
    /// Each file (kohya or diffusers/PEFT format, see <see cref="LoraFile"/>) is fused at its weight:
    /// W + weight * alpha / rank * (up @ down). The images' parameters then name them as A1111 does
    /// (<c>&lt;lora:name:weight&gt;</c> after the prompt).
    /// </summary>
    /// <param name="specs">The files and their weights.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file has keys of no known format, keys that name no layer of this model,
    /// or matrices that do not fit; the message lists them. The pipeline is left without LoRAs.</exception>
    public void SetLoras(IReadOnlyList<LoraSpec> specs)
    {
        ArgumentNullException.ThrowIfNull(specs);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            // LoRAs change LibTorch's weights (built first where ONNX Runtime runs the part), then ONNX Runtime's are exported from them.
            loraFuser ??= new LoraFuser(new Dictionary<LoraTarget, TorchSharp.torch.nn.Module> { [LoraTarget.UNet] = unet.Value, [LoraTarget.TextEncoder] = textEncoder.Value });
            // 1. Read every file before touching a weight.
            var read = new List<(LoraSpec Spec, List<LoraLayer> Layers)>();
            try
            {
                foreach (LoraSpec spec in specs)
                {
                    if (!File.Exists(spec.Path)) throw new FileNotFoundException($"LoRA file not found: '{Path.GetFullPath(spec.Path)}'", spec.Path);
                    read.Add((spec, LoraFile.Read(spec.Path, loraFuser.WeightKeys)));
                }
                var hashes = specs.Select(s => LoraFile.ShortHash(s.Path)).ToList();
                // 2. Back to the originals, then each LoRA in turn.
                bool changed = loraFuser.IsFused || read.Count > 0;
                if (changed)
                {
                    emptyPromptStates?.Dispose();
                    emptyPromptStates = null;
                }
                loraFuser.Restore();
                loras = [];
                loraHashes = [];
                try
                {
                    foreach (var (spec, layers) in read) loraFuser.Fuse(layers, spec.Weight, spec.Path);
                    loras = specs.ToList();
                    loraHashes = hashes;
                }
                catch
                {
                    loraFuser.Restore();
                    throw;
                }
                finally
                {
                    // 3. ONNX Runtime holds its own copy of the U-Net's weights: export again.
                    if (changed && onnxUNet is not null)
                    {
                        onnxUNet.Dispose();
                        onnxUNet = new OnnxRuntimeUNet(unet.Value, onnxCache, linearWeights: UNetLinearWeights);
                        denoiser = new OrtDenoiser(onnxUNet);
                    }
                    if (changed && onnxText is not null)
                    {
                        onnxText.Dispose();
                        onnxText = new OnnxRuntimeTextEncoder(textEncoder.Value, onnxCache);
                    }
                }
            }
            finally
            {
                foreach (var (_, layers) in read)
                    foreach (var l in layers) { l.Down.Dispose(); l.Up.Dispose(); }
            }
        }
    }
}
