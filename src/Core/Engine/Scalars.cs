using System.Collections.Concurrent;
using TorchSharp;

namespace Latent.Core.Engine;

/// <summary>
/// TorchSharp Scalars that stay alive while libtorch reads them. Every scalar operand of a tensor op in this repository
/// is either <see cref="Of(double)"/> (a constant, held for the process) or a local held across the call by
/// <c>using var s = value.ToScalar();</c> (a value that changes per call). Rule LAT0001 (src/Analyzers) refuses the rest
/// at compile time.
/// </summary>
/// <remarks>
/// <para><b>What this works around.</b> TorchSharp 0.107 hands libtorch only a Scalar's native handle. A Scalar made on
/// the spot — <c>x * 0.5</c>, <c>t.add_(g, alpha: 1 - b)</c>, <c>x.pow(2)</c>, and inside TorchSharp itself
/// <c>a + b</c> (alpha = 1), <c>x.add(s)</c>, <c>x.square()</c>, <c>arange(n)</c>, <c>linalg.vector_norm(g, 2)</c>,
/// <c>optim.AdamW.step()</c> — is unreachable once its handle is read, so a garbage collection that another thread
/// triggers during the native call queues it, and the finalizer thread deletes the native <c>at::Scalar</c> while
/// libtorch still reads it (glibc's allocator overwrites the freed tag and value at once).</para>
/// <para><b>Evidence</b> (issue 18, measured on TorchSharp 0.107.0 / libtorch 2.10): the same seeded 12-step training
/// run twice in one process gave different losses from the third step on (0.3219 against 0.3343), only with
/// <c>AdamW.step()</c> in the loop (4 of 4 repeats differed; 0 of 4 without it), every repeat with a tiny first GC
/// generation (<c>DOTNET_GCgen0size=0x10000</c>); <c>latent data emoji</c>, which converts images on several threads,
/// crashed in 2 of 4 runs with "Unknown scalar type ... c10/core/Scalar.h:339" from <c>add_Scalar</c> and "Expected
/// false to be true ... toFloat at c10/core/Scalar.h:140".</para>
/// <para><b>The rule.</b> Constants (literals, config values: a bounded set per process) come from
/// <see cref="Of(double)"/>, which keeps each Scalar in a process-wide table and never frees it. Values computed per
/// call (a learning rate, a scheduler coefficient) are held by a <c>using</c> local, so the Scalar is reachable until
/// after the call returns. Tensor + tensor is <c>a.add(b, Scalars.One)</c>.</para>
/// <para><b>Tensors: the same race.</b> A <c>Tensor</c> made on the spot and not held — an intermediate of a chain
/// (<c>tensor(a).reshape(3, 1, 1).expand(3, 64, 64).contiguous()</c>), the operand of an operator
/// (<c>SolidImage(1) * Scalars.Of(0.5)</c>), a call result passed straight into a call, a plain local whose last use is
/// a native call — is unreachable once TorchSharp has read its handle, and the finalizer thread can delete the native
/// <c>at::Tensor</c> while libtorch reads it. Measured (commit 79d4002, <c>DOTNET_GCgen0size=0x10000</c> and an
/// allocating thread): that chain outside a dispose scope segfaulted in 4 of 5 runs of 2,000 iterations (3 of 3 at
/// 20,000); inside <c>NewDisposeScope()</c> with the result moved out, 0 crashes and 0 wrong values in 5 runs. It crashed
/// the Training test host (<c>ToyWorld.SolidImage</c> in <c>THSTensor_contiguous</c>). A dispose scope holds every tensor
/// made in it (on its own thread), so the rule is: <b>tensor work runs inside a dispose scope</b> (STYLE.md habit 8) —
/// forwards, steps, test methods and test helpers, constructors, static initialisers, CLI commands, and each body that
/// runs on another thread (<c>Parallel.For</c>, <c>Task.Run</c>, a data loader: scopes are per thread); results leave
/// with <c>MoveToOuterDisposeScope()</c>. Where no scope fits (a constructor that builds a <c>Parameter</c>), hold each
/// intermediate in a <c>using</c> local, or <c>GC.KeepAlive</c> it after the call. The canary
/// <c>TensorTemporariesGcStressTests.UnscopedChain_UnderGcStress_CrashesOrGivesWrongValues</c> (tests/Core/Training,
/// child process tests/GcStress <c>--temporaries unscoped</c>) fails when TorchSharp keeps its temporaries alive; no
/// analyzer enforces this half (whether a scope is active is decided at run time, by the callers).</para>
/// <para><b>When it can go:</b> the tensor half, when the canary above fails. The Scalar half, when TorchSharp keeps the
/// Scalar alive across its native calls (its operators and
/// methods hold their conversions with <c>using</c>, or Scalars join dispose scopes), regenerate
/// <c>src/Analyzers/TorchSharpUnheldScalars.txt</c> with <c>src/Analyzers/find-unheld-scalars.py</c> for the new
/// version; when it lists no method and TorchSharp's own implicit conversions are gone, drop this class and LAT0001.</para>
/// </remarks>
public static class Scalars
{
    // Keyed by the value's bits: 0.0 and -0.0 (equal as doubles) are different Scalars.
    static readonly ConcurrentDictionary<long, Scalar> Doubles = new();
    static readonly ConcurrentDictionary<long, Scalar> Longs = new();

    /// <summary>The integer 1, the alpha of a plain <c>add</c>: <c>a.add(b, Scalars.One)</c>.</summary>
    public static Scalar One { get; } = Of(1L);

    /// <summary>
    /// A floating-point Scalar of <paramref name="value"/> that lives as long as the process: for constants and config
    /// values only (each distinct value stays in memory), never for values that change per step.
    /// </summary>
    public static Scalar Of(double value) =>
        Doubles.GetOrAdd(BitConverter.DoubleToInt64Bits(value), static bits => BitConverter.Int64BitsToDouble(bits).ToScalar());

    /// <summary>An integer Scalar of <paramref name="value"/> that lives as long as the process (see <see cref="Of(double)"/>).</summary>
    public static Scalar Of(long value) => Longs.GetOrAdd(value, static v => v.ToScalar());
}
