using Latent.Core.IO;
using static TorchSharp.torch;

namespace Latent.Pipeline.SingleFile;

/// <summary>
/// The tensors of one checkpoint file by key: every key's shape up front, each tensor read on demand. The one place
/// that knows the file formats a single-file checkpoint may come in.
/// </summary>
public sealed class CheckpointTensors : IDisposable
{
    readonly IDisposable? owner;
    readonly Func<string, Tensor> read;

    CheckpointTensors(string path, IReadOnlyDictionary<string, long[]> shapes, Func<string, Tensor> read, IDisposable? owner) =>
        (Path, Shapes, this.read, this.owner) = (path, shapes, read, owner);

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Every key with its shape.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; }

    /// <summary>Reads one tensor in the file's dtype; the caller disposes it.</summary>
    public Tensor Read(string key) => read(key);

    /// <summary>Opens <paramref name="path"/> by its extension: <c>.safetensors</c> is memory-mapped and read one tensor at a time.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="NotSupportedException">A pickled <c>.ckpt</c>/<c>.pt</c>/<c>.pth</c>/<c>.bin</c> (not read yet), or another extension.</exception>
    /// <exception cref="SafeTensorsFormatException">The safetensors file is malformed.</exception>
    public static CheckpointTensors Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint file not found: '{System.IO.Path.GetFullPath(path)}'", path);
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        switch (ext)
        {
            case ".safetensors":
                SafeTensorsFile file = SafeTensors.Open(path);
                var shapes = file.Tensors.ToDictionary(t => t.Name, t => t.Shape.ToArray(), StringComparer.Ordinal);
                return new CheckpointTensors(path, shapes, file.ReadTensor, file);
            case ".ckpt" or ".pt" or ".pth" or ".bin":
                // The pickle reader (PickleCheckpoint.Load: a flat state dict, "state_dict" unwrapped, no code run) plugs in
                // here: var dict = PickleCheckpoint.Load(path); shapes from dict; read = k => dict[k].alias(); owner disposes dict.
                throw new NotSupportedException(
                    $"'{path}': pickled PyTorch checkpoints ({ext}) are not supported yet; use the model's .safetensors file (or convert it once with a trusted tool)");
            default:
                throw new NotSupportedException($"'{path}': a single-file checkpoint must be .safetensors (or, later, .ckpt); got '{ext}'");
        }
    }

    /// <inheritdoc/>
    public void Dispose() => owner?.Dispose();
}
