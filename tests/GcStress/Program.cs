using System.Security.Cryptography;
using Latent.Core.Engine;
using Latent.Core.Tests.Training;
using Latent.GcStress;
using TorchSharp;
using static TorchSharp.torch;

// Trains the tiny net of tests/Core/Training/TinyRun.cs twice in this process, from the same seeds, while a second
// thread allocates without pause (as the trainers' data loaders and a test host's other tests do), so that garbage
// collections land in the middle of native calls. Prints one line per run (a hash of its losses, weights, optimizer
// state and EMA) and exits 0 when the two runs are bit-identical, 1 when they differ, 2 on bad arguments.
//   Latent.GcStress [--steps N] [--channels C] [--optimizer latent|torchsharp]
// With --temporaries it builds a chain of tensor temporaries (TemporaryChain.cs) N times instead, inside a dispose scope
// or outside any, and exits 0 when every result is right, 1 when some are wrong (a crash is the other outcome).
//   Latent.GcStress --temporaries scoped|unscoped [--iterations N]
// Run it with DOTNET_GCgen0size=0x10000 (a 64 KB first generation: a collection every few hundred allocations).
int steps = 100, channels = 8, iterations = 2000;
var optimizer = TinyOptimizer.Latent;
Temporaries? temporaries = null;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--steps" when i + 1 < args.Length && int.TryParse(args[i + 1], out steps) && steps > 0: i++; break;
        case "--channels" when i + 1 < args.Length && int.TryParse(args[i + 1], out channels) && channels > 0 && channels % 4 == 0: i++; break;
        case "--optimizer" when i + 1 < args.Length && Enum.TryParse(args[i + 1], ignoreCase: true, out optimizer): i++; break;
        case "--temporaries" when i + 1 < args.Length && Enum.TryParse(args[i + 1], ignoreCase: true, out Temporaries where): temporaries = where; i++; break;
        case "--iterations" when i + 1 < args.Length && int.TryParse(args[i + 1], out iterations) && iterations > 0: i++; break;
        default:
            Console.Error.WriteLine($"gcstress: unexpected argument '{args[i]}'; usage: [--steps N>0] [--channels C, a multiple of 4] [--optimizer latent|torchsharp] " +
                                    "| --temporaries scoped|unscoped [--iterations N>0]");
            return 2;
    }
}

TorchEngine.Initialize(threads: 1);
using var stop = new CancellationTokenSource();
var churn = new Thread(() =>
{
    var keep = new object[64];
    for (long n = 0; !stop.IsCancellationRequested; n++) keep[n & 63] = new byte[128];   // garbage, as fast as it comes
}) { IsBackground = true };
churn.Start();

if (temporaries is { } mode)
{
    string name = mode.ToString().ToLowerInvariant();
    if (!TemporaryChain.WarmUp())
    {
        Console.Error.WriteLine("gcstress: the chain gave wrong values inside a dispose scope before the loop; the engine is broken");
        return 2;
    }
    Console.WriteLine($"temporaries {name}: started, {iterations} iterations");   // the loop ran (a crash after this is the race)
    int collectionsBefore = GC.CollectionCount(0);
    int wrong = TemporaryChain.Run(mode, iterations);
    int collections = GC.CollectionCount(0) - collectionsBefore;
    stop.Cancel();
    churn.Join();
    Console.WriteLine($"temporaries {name}: finished {iterations} iterations, {wrong} wrong");
    Console.WriteLine($"gc collections in the loop: {collections}");
    return wrong == 0 ? 0 : 1;
}

string first = Train(steps, channels, optimizer), second = Train(steps, channels, optimizer);
stop.Cancel();
churn.Join();
Console.WriteLine($"run 1: {first}");
Console.WriteLine($"run 2: {second}");
Console.WriteLine($"gc collections: {GC.CollectionCount(0)}");
Console.WriteLine(first == second ? "identical" : "different");
return first == second ? 0 : 1;

static string Train(int steps, int channels, TinyOptimizer optimizer)
{
    using var run = new TinyRun(initSeed: 11, channels: channels, totalSteps: steps, optimizer: optimizer);
    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    var losses = new float[steps];
    for (int s = 0; s < steps; s++) losses[s] = run.Step();
    foreach (float loss in losses) hash.AppendData(BitConverter.GetBytes(loss));
    foreach (var (name, p) in run.Model.named_parameters()) Append(hash, name, p);
    foreach (var (name, t) in run.Optimizer.StateTensors().OrderBy(kv => kv.Key, StringComparer.Ordinal)) Append(hash, name, t);
    foreach (var (name, t) in run.Ema.StateTensors().OrderBy(kv => kv.Key, StringComparer.Ordinal)) Append(hash, name, t);
    return $"loss[0] {losses[0]:R}, loss[{steps - 1}] {losses[^1]:R}, sha256 {Convert.ToHexString(hash.GetHashAndReset())[..16]}";
}

static void Append(IncrementalHash hash, string name, Tensor t)
{
    using var scope = NewDisposeScope();   // the chain's temporaries held while libtorch reads them (Engine/Scalars.cs)
    hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
    hash.AppendData(t.detach().contiguous().bytes);
}
