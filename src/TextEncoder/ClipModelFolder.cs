using Latent.Core.Config;
using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>
/// Saves and loads a whole <see cref="ClipModel"/> in a diffusers pipeline folder: <c>text_encoder/</c> (transformers'
/// <c>CLIPTextModel</c>: <c>config.json</c> + <c>model.safetensors</c>, what the pipeline loads) and
/// <c>image_encoder/</c> (<c>config.json</c> = <see cref="ClipImageEncoderConfig"/> + <c>model.safetensors</c> with
/// <c>vision_model.*</c>, <c>visual_projection.weight</c>, <c>text_projection.weight</c> and <c>logit_scale</c>), so that
/// generated images can be scored against their prompts later.
/// </summary>
public static class ClipModelFolder
{
    /// <summary>The text encoder's folder name (diffusers').</summary>
    public const string TextEncoderFolder = "text_encoder";

    /// <summary>The image encoder's folder name (the rest of the CLIP).</summary>
    public const string ImageEncoderFolder = "image_encoder";

    /// <summary>The tokenizer's folder name (diffusers').</summary>
    public const string TokenizerFolder = "tokenizer";

    const string WeightsFileName = "model.safetensors";
    const string TextPrefix = "text_model.";

    /// <summary>Writes <c>root/text_encoder/</c> and <c>root/image_encoder/</c> (each file atomically).</summary>
    /// <param name="model">The model; its current weights are written.</param>
    /// <param name="root">The pipeline folder; created when missing.</param>
    /// <param name="dtype">Float32, Float16 or BFloat16.</param>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not a dtype we save.</exception>
    public static void Save(ClipModel model, string root, ScalarType dtype = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(root);
        string dtypeName = PretrainedFolder.DtypeName(dtype);
        // The text model shares the CLIP's weights; it is not disposed (that would free them).
        model.CreateTextModel().SavePretrained(Path.Combine(root, TextEncoderFolder), dtype);
        string imageDir = Path.Combine(root, ImageEncoderFolder);
        Directory.CreateDirectory(imageDir);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var tensors = model.state_dict()
                .Where(kv => !kv.Key.StartsWith(TextPrefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().to(dtype));
            SafeTensors.Save(Path.Combine(imageDir, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        var config = ClipImageEncoderConfig.From(model.ImageConfig, model.TextConfig.ProjectionDim);
        config.ExtensionData["torch_dtype"] = System.Text.Json.JsonSerializer.SerializeToElement(dtypeName);
        ConfigFile.Write(Path.Combine(imageDir, PretrainedFolder.ConfigFileName), config);
    }

    /// <summary>Whether <paramref name="root"/> holds both folders' configs.</summary>
    public static bool Exists(string root) =>
        File.Exists(Path.Combine(root, TextEncoderFolder, PretrainedFolder.ConfigFileName))
        && File.Exists(Path.Combine(root, ImageEncoderFolder, PretrainedFolder.ConfigFileName));

    /// <summary>Loads the whole CLIP from <c>root/text_encoder/</c> and <c>root/image_encoder/</c>, strictly.</summary>
    /// <param name="root">The pipeline folder.</param>
    /// <returns>The model, float32 on the CPU, in evaluation mode.</returns>
    /// <exception cref="DirectoryNotFoundException">A folder is missing.</exception>
    /// <exception cref="FileNotFoundException">A config or weights file is missing.</exception>
    /// <exception cref="ConfigException">A config is unreadable, of another class, or out of range, or the projection widths differ.</exception>
    /// <exception cref="StateDictMismatchException">A weight is missing, unexpected or mis-shaped.</exception>
    public static ClipModel Load(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        string textDir = Path.Combine(root, TextEncoderFolder), imageDir = Path.Combine(root, ImageEncoderFolder);
        foreach (string dir in new[] { textDir, imageDir })
            if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"CLIP folder not found: '{Path.GetFullPath(dir)}'.");
        string textConfigPath = Path.Combine(textDir, PretrainedFolder.ConfigFileName);
        string imageConfigPath = Path.Combine(imageDir, PretrainedFolder.ConfigFileName);
        var textConfig = ConfigFile.Read<ClipTextConfig>(textConfigPath, ClipTextConfig.ClassName).Config;
        textConfig.Validate(textConfigPath);
        var imageConfig = ConfigFile.Read<ClipImageEncoderConfig>(imageConfigPath, ClipImageEncoderConfig.ClassNameValue).Config;
        if (imageConfig.ProjectionDim != textConfig.ProjectionDim)
            throw new ConfigException(imageConfigPath, "projection_dim",
                $"{imageConfig.ProjectionDim} differs from the text encoder's projection_dim = {textConfig.ProjectionDim}; expected equal widths.");
        var tower = imageConfig.ToTower();
        try { tower.Validate(); }
        catch (ArgumentException e) { throw new ConfigException(imageConfigPath, "image tower", e.Message); }

        var weights = new Dictionary<string, Tensor>();
        try
        {
            foreach (string dir in new[] { textDir, imageDir })
            {
                string path = Path.Combine(dir, WeightsFileName);
                if (!File.Exists(path)) throw new FileNotFoundException($"CLIP weights not found: '{Path.GetFullPath(path)}'.", path);
                foreach (var (key, tensor) in SafeTensors.Load(path)) weights[key] = tensor;
            }
            var model = new ClipModel(textConfig, tower);
            try
            {
                StateDictLoader.Load(model, weights, ClipTextModel.CheckpointLoadOptions);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }
}
