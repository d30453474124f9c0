namespace Latent.Core.IO;

/// <summary>
/// A PyTorch checkpoint (<c>.ckpt</c>, <c>.bin</c>, <c>.pt</c>) could not be read: not a zip, a truncated or corrupt
/// archive, the legacy pre-1.6 format, or a pickle whose content is not a state dict of tensors. The message names the file.
/// </summary>
public class PickleFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    /// <param name="path">The file that was read.</param>
    /// <param name="detail">What is wrong, with the value found and the one expected.</param>
    /// <param name="inner">The underlying exception, when there is one.</param>
    public PickleFormatException(string path, string detail, Exception? inner = null)
        : base($"Cannot load PyTorch checkpoint '{path}': {detail}", inner)
    {
        FilePath = path;
        Detail = detail;
    }

    /// <summary>The file that was read.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the file prefix.</summary>
    public string Detail { get; }
}

/// <summary>
/// The pickle names a global (a Python function or class) that is not on the allow-list of tensor-building globals,
/// e.g. <c>posix.system</c>: the file is refused and nothing in it was executed (our unpickler never executes anything).
/// </summary>
public sealed class UnsafePickleException : PickleFormatException
{
    /// <summary>Creates the exception for the global <paramref name="globalName"/> found in <paramref name="path"/>.</summary>
    /// <param name="path">The file that was read.</param>
    /// <param name="globalName">The global as <c>module.name</c>, e.g. <c>posix.system</c>.</param>
    public UnsafePickleException(string path, string globalName)
        : base(path, $"the pickle names the global '{globalName}', which is not on the allow-list (tensor rebuilders, " +
                     "storages and plain containers); refused, nothing was executed. Use a .safetensors file, or convert " +
                     "this one with a tool you trust.")
    {
        GlobalName = globalName;
    }

    /// <summary>The refused global as <c>module.name</c>.</summary>
    public string GlobalName { get; }
}
