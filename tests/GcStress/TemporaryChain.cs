using static TorchSharp.torch;

namespace Latent.GcStress;

/// <summary>Where <see cref="TemporaryChain"/> builds its chain: inside a dispose scope of its own, or outside any.</summary>
internal enum Temporaries
{
    /// <summary>Inside <c>NewDisposeScope()</c>, the result moved out: the scope holds every intermediate tensor.</summary>
    Scoped,
    /// <summary>Outside any scope: each intermediate is unreachable once TorchSharp has read its native handle.</summary>
    Unscoped,
}

/// <summary>
/// A chain of tensor temporaries, <c>tensor(rgb).reshape(3, 1, 1).expand(3, 64, 64).contiguous()</c>, built many times
/// while another thread allocates: outside a dispose scope the finalizer thread can free an intermediate
/// <c>at::Tensor</c> while libtorch still reads it (src/Core/Engine/Scalars.cs, "Tensors").
/// </summary>
internal static class TemporaryChain
{
    static readonly float[] Rgb = [1f, -1f, 0.5f];
    const int Side = 64;

    /// <summary>Builds and checks the chain <paramref name="iterations"/> times; returns how many gave wrong values.</summary>
    public static int Run(Temporaries where, int iterations)
    {
        int wrong = 0;
        for (int i = 0; i < iterations; i++)
        {
            Tensor image = where == Temporaries.Scoped ? Scoped() : Unscoped();
            using (image)
                if (!Right(image)) wrong++;
        }
        return wrong;
    }

    /// <summary>Builds the chain once inside a scope and checks it: the engine works before the race is tried.</summary>
    public static bool WarmUp()
    {
        using var image = Scoped();
        return Right(image);
    }

    static Tensor Scoped()
    {
        using var scope = NewDisposeScope();
        return tensor(Rgb).reshape(3, 1, 1).expand(3, Side, Side).contiguous().MoveToOuterDisposeScope();
    }

    // The hazard, on purpose: three temporaries that nothing holds.
    static Tensor Unscoped() => tensor(Rgb).reshape(3, 1, 1).expand(3, Side, Side).contiguous();

    // Every pixel of channel c holds Rgb[c]. [3, 64, 64]
    static bool Right(Tensor image)
    {
        if (!image.shape.SequenceEqual(new long[] { 3, Side, Side })) return false;
        var data = image.data<float>().ToArray();
        for (int k = 0; k < data.Length; k++)
            if (data[k] != Rgb[k / (Side * Side)]) return false;
        return true;
    }
}
