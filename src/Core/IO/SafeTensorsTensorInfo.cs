using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>One tensor's entry in a safetensors header, after validation.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="DtypeName">The dtype as the header spells it (e.g. <c>"BF16"</c>).</param>
/// <param name="Dtype">The engine type the tensor is read as.</param>
/// <param name="Shape">The dimensions, row-major; empty for a 0-dim scalar.</param>
/// <param name="Begin">First byte, relative to the start of the data buffer (the header's <c>data_offsets[0]</c>).</param>
/// <param name="End">One past the last byte, relative to the data buffer (<c>data_offsets[1]</c>).</param>
public sealed record SafeTensorsTensorInfo(
    string Name, string DtypeName, ScalarType Dtype, IReadOnlyList<long> Shape, long Begin, long End)
{
    /// <summary>The size of the tensor's data in bytes: <c>End - Begin</c> = numel * item size.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The number of elements, the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long NumberOfElements => Shape.Aggregate(1L, (a, d) => a * d);
}
