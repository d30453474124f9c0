// Per-op timings of TorchSharp for bench/ops.sh, which runs the same ops in PyTorch (bench/ops.py) in one session.
// Hand-rolled timing instead of BenchmarkDotNet: the Python side must use the very same method (warm-up, then the
// median of repeated calls), so that the ratio compares the engines and not two harnesses.
using System.Diagnostics;
using System.Globalization;
using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

int threads = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
double scale = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 1.0;
TorchEngine.Initialize(threads);
manual_seed(0);

Report("add 4 elements", 20000, () =>
{
    var a = ones(4);
    var b = ones(4);
    return () => { using var c = a.add(b, Scalars.One); };
});
Report("linear 64->64, batch 8", 5000, () =>
{
    var linear = nn.Linear(64, 64);
    var x = randn(8, 64);
    return () => { using var y = linear.forward(x); };
});
Report("conv2d 3x3 64->64 [8,64,32,32] fwd+bwd", 20, () =>
{
    var x = randn(8, 64, 32, 32).requires_grad_();
    using var w0 = randn(64, 64, 3, 3);   // held across the product (src/Core/Engine/Scalars.cs)
    var w = (w0 * Scalars.Of(0.05)).requires_grad_();
    return () =>
    {
        using var scope = NewDisposeScope();
        nn.functional.conv2d(x, w, padding: new long[] { 1, 1 }).sum().backward();
        x.grad!.zero_(); w.grad!.zero_();
    };
});
Report("matmul [512,512]x[512,512] fwd+bwd", 40, () =>
{
    var a = randn(512, 512).requires_grad_();
    var b = randn(512, 512).requires_grad_();
    return () =>
    {
        using var scope = NewDisposeScope();
        a.matmul(b).sum().backward();
        a.grad!.zero_(); b.grad!.zero_();
    };
});
Report("sdpa self B=2 h=8 N=256 d=32 fwd+bwd", 40, () =>
{
    var q = randn(2, 8, 256, 32).requires_grad_();
    var k = randn(2, 8, 256, 32).requires_grad_();
    var v = randn(2, 8, 256, 32).requires_grad_();
    return () =>
    {
        using var scope = NewDisposeScope();
        nn.functional.scaled_dot_product_attention(q, k, v).sum().backward();
        q.grad!.zero_(); k.grad!.zero_(); v.grad!.zero_();
    };
});
Report("sdpa cross B=2 h=8 N=256 T=77 d=32 fwd+bwd", 40, () =>
{
    var q = randn(2, 8, 256, 32).requires_grad_();
    var k = randn(2, 8, 77, 32).requires_grad_();
    var v = randn(2, 8, 77, 32).requires_grad_();
    return () =>
    {
        using var scope = NewDisposeScope();
        nn.functional.scaled_dot_product_attention(q, k, v).sum().backward();
        q.grad!.zero_(); k.grad!.zero_(); v.grad!.zero_();
    };
});

// One JSON line per op: the median time of one call in microseconds over `calls` calls, after a warm-up.
void Report(string name, int calls, Func<Action> setup)
{
    calls = Math.Max(5, (int)(calls * scale));
    Action op = setup();
    for (int i = 0; i < Math.Max(3, calls / 10); i++) op();
    int batches = 15, perBatch = Math.Max(1, calls / batches);
    var times = new double[batches];
    for (int b = 0; b < batches; b++)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < perBatch; i++) op();
        times[b] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / perBatch;
    }
    Array.Sort(times);
    Console.WriteLine(FormattableString.Invariant($"{{\"impl\": \"torchsharp\", \"op\": \"{name}\", \"us\": {times[batches / 2]:F2}}}"));
}
