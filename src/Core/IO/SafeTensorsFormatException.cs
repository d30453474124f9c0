namespace Latent.Core.IO;

/// <summary>
/// A safetensors file broke the format: its header or its layout is invalid. The message names the file and, where the
/// problem belongs to one tensor, that tensor.
/// </summary>
public sealed class SafeTensorsFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    /// <param name="path">The file that was read.</param>
    /// <param name="tensorName">The tensor the problem belongs to, or null when it concerns the whole file.</param>
    /// <param name="detail">What is wrong, with the value found and the one expected.</param>
    /// <param name="inner">The parser's exception, when there is one.</param>
    public SafeTensorsFormatException(string path, string? tensorName, string detail, Exception? inner = null)
        : base(Compose(path, tensorName, detail), inner)
    {
        FilePath = path;
        TensorName = tensorName;
        Detail = detail;
    }

    /// <summary>The file that was read.</summary>
    public string FilePath { get; }

    /// <summary>The tensor the problem belongs to, or null when it concerns the whole file.</summary>
    public string? TensorName { get; }

    /// <summary>What is wrong, without the file and tensor prefix.</summary>
    public string Detail { get; }

    static string Compose(string path, string? tensorName, string detail) =>
        tensorName is null
            ? $"Invalid safetensors file '{path}': {detail}"
            : $"Invalid safetensors file '{path}', tensor '{tensorName}': {detail}";
}
