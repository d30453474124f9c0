using Latent.Core.Engine;
using static TorchSharp.torch;

namespace Latent.Tests;

/// <summary>
/// Inputs that many tests build, written with held Scalars (rule LAT0001, src/Core/Engine/Scalars.cs): each makes the
/// same native ops with the same scalar values as the TorchSharp shorthand it names, whose on-the-spot Scalars the
/// finalizer could free while libtorch reads them (the tests of an assembly run on parallel threads).
/// </summary>
public static class TestTensors
{
    /// <summary>Uniform values in [-1, 1), the range of our pixels: <c>rand(shape) * 2 - 1</c>.</summary>
    public static Tensor UniformPixels(long[] shape, Generator? generator = null)
    {
        using var unit = rand(shape, generator: generator);   // [0, 1)
        using var doubled = unit * Scalars.Of(2);
        return doubled - Scalars.Of(1);
    }

    /// <summary>0, 1, ..., n - 1: <c>arange(n, dtype)</c>, which passes an integer start 0 and step 1 (int64 when no
    /// dtype is given).</summary>
    public static Tensor Arange(long n, ScalarType? dtype = null) => arange(Scalars.Of(0), Scalars.Of(n), Scalars.One, dtype);
}
