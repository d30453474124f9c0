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

    /// <summary>
    /// Opens <paramref name="path"/> by its extension: <c>.safetensors</c> is memory-mapped and read one tensor at a time;
    /// a PyTorch pickle (<c>.ckpt</c>, <c>.pt</c>, <c>.pth</c>, <c>.bin</c>) is read whole by <see cref="PickleCheckpoint"/>,
    /// which builds tensors and plain containers only and refuses any other global in the pickle.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="NotSupportedException">Another extension.</exception>
    /// <exception cref="SafeTensorsFormatException">The safetensors file is malformed.</exception>
    /// <exception cref="UnsafePickleException">The pickle names a global other than tensors, storages and plain containers.</exception>
    /// <exception cref="PickleFormatException">The pickle checkpoint is malformed.</exception>
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
                Dictionary<string, Tensor> tensors = PickleCheckpoint.Load(path);
                var pickleShapes = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
                // Each read is a new handle on the loaded tensor (the loader disposes it); the tensors go with Dispose.
                return new CheckpointTensors(path, pickleShapes, key => tensors[key].alias(), new TensorOwner(tensors.Values));
            default:
                throw new NotSupportedException(
                    $"'{path}': a single-file checkpoint must be .safetensors, .ckpt, .pt, .pth or .bin; got '{ext}'");
        }
    }

    /// <inheritdoc/>
    public void Dispose() => owner?.Dispose();

    sealed class TensorOwner(IEnumerable<Tensor> tensors) : IDisposable
    {
        public void Dispose()
        {
            foreach (var t in tensors) t.Dispose();
        }
    }
}
