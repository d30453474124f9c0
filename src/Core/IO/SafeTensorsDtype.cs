using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>
/// The safetensors dtype names and the engine's <see cref="ScalarType"/>s they map to.
/// </summary>
/// <remarks>
/// Supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8 and BOOL (one byte, 0 or 1). The format also names types the
/// engine cannot hold (U16, U32, U64, the F8 variants, complex); those are recognised so that the error can say "not
/// supported" rather than "unknown".
/// </remarks>
public static class SafeTensorsDtype
{
    // In the order Python's safetensors lays data out (its Dtype enum, descending): item size never grows along it.
    static readonly (string Name, ScalarType Type, int ItemSize)[] Supported =
    [
        ("I64", ScalarType.Int64, 8),
        ("F64", ScalarType.Float64, 8),
        ("F32", ScalarType.Float32, 4),
        ("I32", ScalarType.Int32, 4),
        ("BF16", ScalarType.BFloat16, 2),
        ("F16", ScalarType.Float16, 2),
        ("I16", ScalarType.Int16, 2),
        ("I8", ScalarType.Int8, 1),
        ("U8", ScalarType.Byte, 1),
        ("BOOL", ScalarType.Bool, 1),
    ];

    static readonly string[] KnownUnsupported =
        ["U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128"];

    /// <summary>The dtype names this reader and writer support, in the format's spelling.</summary>
    public static IReadOnlyList<string> SupportedNames { get; } = Supported.Select(s => s.Name).ToArray();

    /// <summary>Maps a safetensors dtype name (case-sensitive, e.g. <c>"BF16"</c>) to the engine's type.</summary>
    /// <param name="name">The name as written in the header.</param>
    /// <param name="type">The engine type when the name is supported.</param>
    /// <returns>Whether <paramref name="name"/> is a supported dtype.</returns>
    public static bool TryParse(string name, out ScalarType type)
    {
        foreach (var s in Supported)
        {
            if (s.Name == name) { type = s.Type; return true; }
        }
        type = default;
        return false;
    }

    /// <summary>
    /// The position of <paramref name="type"/> in the write order of Python's safetensors (I64, F64, F32, I32, BF16, F16,
    /// I16, I8, U8, BOOL), which keeps every tensor aligned to its item size.
    /// </summary>
    internal static int WriteRank(ScalarType type) => Array.FindIndex(Supported, s => s.Type == type);

    /// <summary>Whether tensors of <paramref name="type"/> can be written and read.</summary>
    public static bool IsSupported(ScalarType type) => Supported.Any(s => s.Type == type);

    /// <summary>Whether <paramref name="name"/> is a dtype of the format that the engine cannot represent.</summary>
    public static bool IsKnownButUnsupported(string name) => KnownUnsupported.Contains(name);

    /// <summary>The safetensors name of <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentException">The type has no safetensors counterpart here (e.g. complex).</exception>
    public static string ToName(ScalarType type)
    {
        foreach (var s in Supported)
        {
            if (s.Type == type) return s.Name;
        }
        throw new ArgumentException(
            $"Tensor dtype {type} cannot be stored in safetensors; supported: {string.Join(", ", SupportedNames)}.", nameof(type));
    }

    /// <summary>Bytes per element of <paramref name="type"/> in the file (and in memory).</summary>
    /// <exception cref="ArgumentException">The type is not supported.</exception>
    public static int ItemSize(ScalarType type)
    {
        foreach (var s in Supported)
        {
            if (s.Type == type) return s.ItemSize;
        }
        throw new ArgumentException(
            $"Tensor dtype {type} cannot be stored in safetensors; supported: {string.Join(", ", SupportedNames)}.", nameof(type));
    }
}
