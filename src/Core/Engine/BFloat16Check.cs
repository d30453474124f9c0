using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Latent.Core.Engine;

/// <summary>How far one op (or a whole model) in bfloat16 is from float32 on the same inputs.</summary>
/// <param name="What">The op and its shapes, e.g. <c>conv2d 3x3 [2,64,16,16] -> 64</c>.</param>
/// <param name="Error">max |bf16 - fp32| / max |fp32| (NaN when the bf16 result is not finite).</param>
/// <param name="Tolerance">The largest error a correct bf16 engine gives here, with margin.</param>
public sealed record BFloat16Deviation(string What, double Error, double Tolerance)
{
    /// <summary>Whether the error is within the tolerance (false for NaN).</summary>
    public bool Ok => Error <= Tolerance;

    /// <summary>One line, e.g. <c>conv2d 3x3 [2,64,16,16] -> 64: 23.1% (tolerance 3%)</c>.</summary>
    public override string ToString() => $"{What}: {Percent(Error, 1)} (tolerance {Percent(Tolerance, 0)})";

    /// <summary>A fraction as a percentage with a fixed number of decimals, the same in every culture ("NaN" stays).</summary>
    /// <param name="fraction">E.g. 0.231.</param>
    /// <param name="decimals">Digits after the point.</param>
    public static string Percent(double fraction, int decimals) =>
        double.IsNaN(fraction) ? "NaN" : (fraction * 100).ToString("F" + decimals, System.Globalization.CultureInfo.InvariantCulture) + "%";
}

/// <summary>The engine's bf16 ops measured against float32, one entry per probe.</summary>
/// <param name="Ops">Each probe's deviation, in probe order.</param>
public sealed record BFloat16Report(IReadOnlyList<BFloat16Deviation> Ops)
{
    /// <summary>Whether every op is within its tolerance.</summary>
    public bool Accurate => Ops.All(o => o.Ok);

    /// <summary>The ops outside their tolerance, worst first.</summary>
    public IReadOnlyList<BFloat16Deviation> Failures =>
        Ops.Where(o => !o.Ok).OrderByDescending(o => double.IsNaN(o.Error) ? double.PositiveInfinity : o.Error).ToArray();

    /// <summary>The failing ops, or that all passed with the largest error.</summary>
    public string Describe() => Accurate
        ? $"all {Ops.Count} bf16 op probes within tolerance (largest error {BFloat16Deviation.Percent(Ops.Max(o => o.Error), 2)})"
        : $"{Failures.Count} of {Ops.Count} bf16 op probes off: {string.Join("; ", Failures)}";
}

/// <summary>bf16 refused because this engine computes it inaccurately on this CPU; the message has the measurements.</summary>
public sealed class BFloat16InaccurateException : NotSupportedException
{
    /// <summary>Creates the exception.</summary>
    public BFloat16InaccurateException(string message, BFloat16Report engine, BFloat16Deviation? model) : base(message) =>
        (Engine, Model) = (engine, model);

    /// <summary>The engine's op probes.</summary>
    public BFloat16Report Engine { get; }

    /// <summary>The model's own check, when one ran.</summary>
    public BFloat16Deviation? Model { get; }
}

/// <summary>
/// Checks that the engine computes bfloat16 correctly on this CPU before a model is run in it: each op the U-Net uses
/// is run in bf16 and in float32 on the same (bf16-rounded) inputs, at U-Net shapes, and compared.
/// </summary>
/// <remarks>
/// <para>Works around bf16 CPU kernels of libtorch 2.10 (oneDNN 3.7.1, in TorchSharp-cpu 0.107.0) that are right on
/// some CPUs and wrong on others. On Intel machines and on an AMD EPYC with avx512_bf16 (Zen 4, where bf16 conv2d runs
/// at 19 GFLOPS against 46 in fp32) the U-Net in bf16 stays within 0.5-1.6% of float32. On an AMD EPYC that also has
/// avx512_vp2intersect (Zen 5), where bf16 conv2d runs at 619 GFLOPS against 63 (another kernel path), it was 29% off
/// and drew speckled images. Without that CPU at hand the faulty kernel is not pinned down, so the engine is measured
/// instead of trusted: loading a bf16 pipeline runs these probes and the model's own fp32-vs-bf16 check, and refuses
/// bf16 with the numbers rather than make wrong images. <c>latent doctor</c> prints the probes.</para>
/// <para>Error = max |bf16 - fp32| / max |fp32|, both computed from the same bf16-rounded inputs, so it is the kernel's
/// own error: a correct kernel accumulates in fp32 and rounds once (2^-9 = 0.2% relative); single ops gave at most
/// 0.5% and the three chains (attention, ResNet block: several roundings) at most 1.2% on the machines above. Single
/// ops are allowed <see cref="OpTolerance"/>, chains and whole models <see cref="ModelTolerance"/>.</para>
/// <para>When it can go: once the probes and <c>UNetParityTests.BFloat16_StaysCloseToFloat32</c> pass on the
/// affected CPU with a newer engine. It costs one run of the probes per process (well under a second; the first bf16
/// kernels are compiled then), so it can also stay as a guard.</para>
/// </remarks>
public static class BFloat16Check
{
    /// <summary>Largest error allowed for one op (at most 0.5% measured on correct engines).</summary>
    public const double OpTolerance = 0.03;

    /// <summary>Largest error allowed for a chain of ops or a whole model (the U-Nets measured 0.5-1.6%).</summary>
    public const double ModelTolerance = 0.05;

    static readonly Lazy<BFloat16Report> EngineReport = new(() => Probe(Probes()));

    /// <summary>The engine's probes, run once per process on first use.</summary>
    public static BFloat16Report Engine => EngineReport.Value;

    /// <summary>max |candidate - reference| / max |reference|, both read as float32; NaN when the candidate is not finite.</summary>
    /// <param name="reference">The float32 result.</param>
    /// <param name="candidate">The bf16 result (any dtype), same shape.</param>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public static double Error(Tensor reference, Tensor candidate)
    {
        if (!reference.shape.SequenceEqual(candidate.shape))
            throw new ArgumentException(
                $"reference has shape [{string.Join(", ", reference.shape)}] but candidate [{string.Join(", ", candidate.shape)}]; expected equal", nameof(candidate));
        using var scope = NewDisposeScope();
        var r = reference.to(ScalarType.Float32);
        var c = candidate.to(ScalarType.Float32);
        if (!c.isfinite().all().item<bool>()) return double.NaN;
        double scale = r.abs().max().item<float>();
        double diff = (c - r).abs().max().item<float>();
        return scale > 0 ? diff / scale : diff == 0 ? 0 : double.PositiveInfinity;
    }

    /// <summary>
    /// Throws unless the engine's probes and the model's own check (when given) are within tolerance.
    /// </summary>
    /// <param name="engine">The engine's probes (<see cref="Engine"/>).</param>
    /// <param name="model">The model's fp32-vs-bf16 deviation, or null when only the engine is checked.</param>
    /// <exception cref="BFloat16InaccurateException">bf16 is off; the message names what and by how much.</exception>
    public static void EnsureAccurate(BFloat16Report engine, BFloat16Deviation? model)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (engine.Accurate && (model is null || model.Ok)) return;
        var reasons = new List<string>();
        if (model is { Ok: false }) reasons.Add(model.ToString());
        if (!engine.Accurate) reasons.Add($"this engine's bf16 kernels are wrong on this CPU ({engine.Describe()})");
        throw new BFloat16InaccurateException(
            $"bfloat16 refused, it would make wrong images: {string.Join("; ", reasons)}. " +
            "Use float32 (--dtype fp32); `latent doctor` checks the engine's bf16 op by op.", engine, model);
    }

    /// <summary>One probe: fp32 inputs from a generator, and the op to run on them in either dtype.</summary>
    internal sealed record OpProbe(string What, double Tolerance, Func<Generator, Tensor[]> Inputs, Func<Tensor[], Tensor> Op);

    /// <summary>Runs each probe on bf16 inputs and on the same inputs read as float32, and measures the difference.</summary>
    internal static BFloat16Report Probe(IEnumerable<OpProbe> probes)
    {
        TorchEngine.EnsureInitialized();
        using var noGrad = no_grad();
        using var gen = new Generator(20240501);
        var results = new List<BFloat16Deviation>();
        foreach (OpProbe p in probes)
        {
            using var scope = NewDisposeScope();
            Tensor[] bf16 = p.Inputs(gen).Select(t => t.to(ScalarType.BFloat16)).ToArray();
            Tensor[] fp32 = bf16.Select(t => t.to(ScalarType.Float32)).ToArray();
            Tensor reference = p.Op(fp32);
            try
            {
                results.Add(new BFloat16Deviation(p.What, Error(reference, p.Op(bf16)), p.Tolerance));
            }
            catch (System.Runtime.InteropServices.ExternalException e)
            {
                // An op without a bf16 kernel here would fail inside the model too: count it as off, with the engine's words.
                string reason = e.Message.Split('\n')[0].Trim();
                results.Add(new BFloat16Deviation($"{p.What} (failed in bf16: {reason})", double.NaN, p.Tolerance));
            }
        }
        return new BFloat16Report(results);
    }

    /// <summary>The U-Net's ops at its shapes (B = 2 for guidance, 16x16 latents, 64 channels, two heads of 32).</summary>
    internal static IEnumerable<OpProbe> Probes()
    {
        const long b = 2, c = 64, s = 16, n = s * s, heads = 2, d = c / heads, t = 77, ctx = 256;
        const double op = OpTolerance, chain = ModelTolerance;
        long[] pad1 = [1, 1], stride2 = [2, 2];

        // Convolutions at the shapes of the conformance U-Net (32/64 channels) and the emoji one (64-192): conv_in (4 in),
        // ResNet 3x3 (also after the up path's concat), downsampler (stride 2), 1x1 shortcut, conv_out (4 out), and the
        // shape `latent doctor` times (where the affected CPU ran bf16 10x faster than fp32).
        (long B, long Cin, long S, long Cout, long K, long Stride)[] convs =
        [
            (b, 4, s, 32, 3, 1), (b, 4, s, c, 3, 1), (b, 32, s, 32, 3, 1), (b, c, s, c, 3, 1), (b, 32, s, 32, 3, 2), (b, c, s, c, 3, 2),
            (b, 32, s / 2, c, 3, 1), (b, 32, s / 2, c, 1, 1), (b, c, s, 2 * c, 1, 1), (b, 96, s, 32, 3, 1), (b, 2 * c, s / 2, c, 3, 1),
            (b, 2 * c, s / 2, 2 * c, 3, 1), (b, 3 * c, s / 4, 3 * c, 3, 1), (b, 32, s, 4, 3, 1), (b, c, s, 4, 3, 1), (8, c, 2 * s, c, 3, 1),
        ];
        foreach (var v in convs) yield return Conv(v.B, v.Cin, v.S, v.Cout, v.K, v.Stride);

        // Linear layers (to_q/k/v/out, feed-forward) and the attention matmuls, softmax and fused kernel.
        yield return new($"linear [{b},{n},{c}] -> {4 * c}", op,
            g => [Randn(g, 1, 0, b, n, c), Randn(g, 1 / Math.Sqrt(c), 0, 4 * c, c), Randn(g, 0.1, 0, 4 * c)],
            x => F.linear(x[0], x[1], x[2]));
        yield return new($"linear [{b},{t},{ctx}] -> {c}", op,
            g => [Randn(g, 1, 0, b, t, ctx), Randn(g, 1 / Math.Sqrt(ctx), 0, c, ctx)],
            x => F.linear(x[0], x[1]));
        yield return new($"matmul [{b},{heads},{n},{d}] x [{b},{heads},{d},{t}]", op,
            g => [Randn(g, 1, 0, b, heads, n, d), Randn(g, 1, 0, b, heads, d, t)],
            x => matmul(x[0], x[1]));
        yield return new($"softmax [{b},{heads},{n},{t}]", op,
            g => [Randn(g, 3, 0, b, heads, n, t)],
            x => x[0].softmax(-1));
        yield return new($"scaled_dot_product_attention [{b},{heads},{n},{d}]", op,
            g => [Randn(g, 1, 0, b, heads, n, d), Randn(g, 1, 0, b, heads, n, d), Randn(g, 1, 0, b, heads, n, d)],
            x => F.scaled_dot_product_attention(x[0], x[1], x[2]));
        // Attention's manual kernel (fewer than 256 keys): 8 heads of 8 over 8x8 latents to 77 text tokens.
        yield return new($"softmax(Q K^T / sqrt(d)) V [{b},8,{n / 4},8], {t} keys", chain,
            g => [Randn(g, 1, 0, b, 8, n / 4, 8), Randn(g, 1, 0, b, 8, t, 8), Randn(g, 1, 0, b, 8, t, 8)],
            x =>
            {
                using var scale = (1 / Math.Sqrt(8)).ToScalar();
                return matmul(matmul(x[0], x[1].transpose(-1, -2)).mul_(scale).softmax(-1), x[2]);
            });

        // Norms and activations (inputs with an offset, so a norm that loses precision on the mean shows it).
        yield return new($"group_norm 32 [{b},{c},{s},{s}]", op,
            g => [Randn(g, 3, 1, b, c, s, s), Randn(g, 1, 1, c), Randn(g, 1, 0, c)],
            x => F.group_norm(x[0], 32, x[1], x[2], 1e-5));
        yield return new($"group_norm 32 [{b},{c},{n}] transposed view", op,
            g => [Randn(g, 3, 1, b, n, c), Randn(g, 1, 1, c), Randn(g, 1, 0, c)],
            x => F.group_norm(x[0].transpose(1, 2), 32, x[1], x[2], 1e-6));
        yield return new($"layer_norm [{b},{n},{c}]", op,
            g => [Randn(g, 3, 1, b, n, c), Randn(g, 1, 1, c), Randn(g, 1, 0, c)],
            x => F.layer_norm(x[0], [c], x[1], x[2], 1e-5));
        yield return new($"gelu [{b},{n},{4 * c}]", op, g => [Randn(g, 2, 0, b, n, 4 * c)], x => F.gelu(x[0]));
        yield return new($"silu [{b},{c},{s},{s}]", op, g => [Randn(g, 2, 0, b, c, s, s)], x => F.silu(x[0]));

        // Two chains in the blocks' own layouts: a ResNet block and a self-attention block (as Core.Nn builds them).
        yield return new($"resnet block [{b},{c},{s},{s}]", chain,
            g => [Randn(g, 1, 0, b, c, s, s), Randn(g, 1 / Math.Sqrt(9 * c), 0, c, c, 3, 3), Randn(g, 1 / Math.Sqrt(9 * c), 0, c, c, 3, 3),
                  Randn(g, 1, 0, b, c)],
            x =>
            {
                var h = F.conv2d(F.silu(F.group_norm(x[0], 32, eps: 1e-5)), x[1], padding: pad1);
                h = h.add(x[3].unsqueeze(-1).unsqueeze(-1), Scalars.One);
                h = F.conv2d(F.silu(F.group_norm(h, 32, eps: 1e-5)), x[2], padding: pad1);
                return x[0].add(h, Scalars.One);
            });
        yield return new($"attention block [{b},{c},{s},{s}], {heads} heads", chain,
            g => [Randn(g, 1, 0, b, c, s, s), Randn(g, 1 / Math.Sqrt(c), 0, 3 * c, c), Randn(g, 1 / Math.Sqrt(c), 0, c, c), Randn(g, 0.1, 0, c)],
            x =>
            {
                // [B, C, H, W] -> [B, N, C]; norm over [B, C, N]; q, k, v: [B, N, C] -> [B, heads, N, d]
                var h = x[0].reshape(b, c, n).transpose(1, 2);
                h = F.group_norm(h.transpose(1, 2), 32, eps: 1e-6).transpose(1, 2);
                var qkv = F.linear(h, x[1]).chunk(3, -1);
                var o = F.scaled_dot_product_attention(
                    qkv[0].view(b, n, heads, d).transpose(1, 2), qkv[1].view(b, n, heads, d).transpose(1, 2), qkv[2].view(b, n, heads, d).transpose(1, 2));
                // [B, heads, N, d] -> [B, N, C] -> [B, C, H, W]
                o = F.linear(o.transpose(1, 2).reshape(b, n, c), x[2], x[3]);
                return o.transpose(1, 2).reshape(b, c, s, s).add(x[0], Scalars.One);
            });

        OpProbe Conv(long batch, long cin, long side, long cout, long k, long stride) =>
            new($"conv2d {k}x{k}{(stride > 1 ? " stride 2" : "")} [{batch},{cin},{side},{side}] -> {cout}", op,
                g => [Randn(g, 1, 0, batch, cin, side, side), Randn(g, 1 / Math.Sqrt(cin * k * k), 0, cout, cin, k, k), Randn(g, 0.1, 0, cout)],
                x => F.conv2d(x[0], x[1], x[2], strides: stride > 1 ? stride2 : null, padding: k == 3 ? pad1 : null));
    }

    // scale * N(0, 1) + shift, drawn from the probe's own generator (the global one is left alone).
    static Tensor Randn(Generator g, double scale, double shift, params long[] shape)
    {
        using var a = scale.ToScalar();
        using var m = shift.ToScalar();
        return randn(shape, generator: g).mul_(a).add_(m, Scalars.One);
    }
}
