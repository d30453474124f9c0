using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Config;

/// <summary>
/// One model's folder in diffusers/transformers layout (<c>config.json</c> + a safetensors weights file, or its
/// <see cref="PickleTwin"/> <c>.bin</c> when that is all there is): loaded
/// strictly, saved atomically. The models' <c>FromPretrained</c>/<c>SavePretrained</c> go through here.
/// </summary>
public static class PretrainedFolder
{
    /// <summary>The config file of every model folder.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>
    /// Reads and validates the config, builds the model and loads its weights strictly (the model is disposed if that
    /// fails); returns it float32 on the CPU in evaluation mode.
    /// </summary>
    /// <param name="directory">The model's folder, e.g. <c>unet/</c> of a pipeline.</param>
    /// <param name="weightsFileName">e.g. <c>diffusion_pytorch_model.safetensors</c> or <c>model.safetensors</c>.</param>
    /// <param name="className">The class the config must name (<c>_class_name</c> or <c>architectures</c>).</param>
    /// <param name="validate">Checks the config; gets the config file's path for its messages.</param>
    /// <param name="create">Builds the model with fresh weights.</param>
    /// <param name="options">Key mapping or strictness for the weights; strict by default.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The config or the weights file is missing.</exception>
    /// <exception cref="ConfigException">The config is unreadable, of another class, or out of range.</exception>
    /// <exception cref="StateDictMismatchException">A weight is missing, unexpected or mis-shaped.</exception>
    public static TModel Load<TConfig, TModel>(string directory, string weightsFileName, string className,
        Action<TConfig, string> validate, Func<TConfig, TModel> create, LoadOptions? options = null)
        where TConfig : JsonConfig where TModel : nn.Module
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{className} folder not found: '{Path.GetFullPath(directory)}'.");
        string configPath = Path.Combine(directory, ConfigFileName);
        string weightsPath = Path.Combine(directory, weightsFileName);
        TConfig config = ConfigFile.Read<TConfig>(configPath, className).Config;
        validate(config, configPath);
        if (!File.Exists(weightsPath) && File.Exists(Path.Combine(directory, PickleTwin(weightsFileName))))
            weightsPath = Path.Combine(directory, PickleTwin(weightsFileName));
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"{className} weights not found: '{Path.GetFullPath(weightsPath)}' " +
                $"(nor {PickleTwin(weightsFileName)} beside it).", weightsPath);
        TModel model = create(config);
        try
        {
            StateDictLoader.LoadFile(model, weightsPath, options);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// The PyTorch-pickle name that diffusers and transformers use where no safetensors file was written:
    /// <c>diffusion_pytorch_model.safetensors</c> -> <c>diffusion_pytorch_model.bin</c>, <c>model.safetensors</c> ->
    /// <c>pytorch_model.bin</c>. Loaded (safely, see <see cref="PickleCheckpoint"/>) only when the safetensors file is absent.
    /// </summary>
    public static string PickleTwin(string weightsFileName)
    {
        string stem = Path.GetFileNameWithoutExtension(weightsFileName);
        return (stem == "model" ? "pytorch_model" : stem) + ".bin";
    }

    /// <summary>Writes every entry of <paramref name="module"/>'s state dict as <paramref name="dtype"/>, then the config, each atomically.</summary>
    /// <param name="module">The model.</param>
    /// <param name="directory">The folder; created when missing.</param>
    /// <param name="weightsFileName">The weights file's name.</param>
    /// <param name="config">The config to write as <c>config.json</c> (after the weights, so a folder with a config is complete).</param>
    /// <param name="dtype">Float32, Float16 or BFloat16.</param>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not one of those.</exception>
    public static void Save<TConfig>(nn.Module module, string directory, string weightsFileName, TConfig config, ScalarType dtype)
        where TConfig : JsonConfig
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _ = DtypeName(dtype);
        Directory.CreateDirectory(directory);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var tensors = module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().to(dtype));
            SafeTensors.Save(Path.Combine(directory, weightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        ConfigFile.Write(Path.Combine(directory, ConfigFileName), config);
    }

    /// <summary>PyTorch's name of a weights dtype we save (<c>float32</c>, <c>float16</c>, <c>bfloat16</c>), as <c>torch_dtype</c> writes it.</summary>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not Float32, Float16 or BFloat16.</exception>
    public static string DtypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => throw new ArgumentException($"weights are saved as Float32, Float16 or BFloat16; got {dtype}.", nameof(dtype)),
    };
}
