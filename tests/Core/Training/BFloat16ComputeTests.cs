using Latent.Core.Engine;
using Latent.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

[Collection(SerialTrainingCollection.Name)]
public sealed class BFloat16ComputeTests
{
    // A master (float32) and its bf16 compute copy, seeded; no dropout, so a pass draws nothing.
    static (TinyConvNet Master, BFloat16Compute<TinyConvNet> Compute) Pair()
    {
        manual_seed(3);
        var master = new TinyConvNet(dropoutP: 0);
        return (master, new BFloat16Compute<TinyConvNet>(master, new TinyConvNet(dropoutP: 0)));
    }

    static Tensor Input() => randn(new long[] { 2, 3, 8, 8 }, generator: new Generator(5));   // [B, 3, H, W]

    static bool Same(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
    }

    static double RelativeError(Tensor reference, Tensor candidate)
    {
        using var scope = NewDisposeScope();
        return (candidate - reference).abs().max().item<float>() / reference.abs().max().item<float>();
    }

    [Fact]
    public void Forward_RunsTheMastersWeightsInBf16AndReturnsFloat32()
    {
        using var scope = NewDisposeScope();
        var (master, compute) = Pair();
        using (compute)
        using (master)
        {
            var x = Input();
            var fp32 = master.forward(x);
            var bf16 = compute.Forward(master, m => m.forward(BFloat16Compute.In(x)));
            Assert.Equal(ScalarType.Float32, bf16.dtype);
            // bf16 rounds weights, inputs and every op's output to 8 significant bits (2^-9 ≈ 0.2% each): a few ops give
            // ~1%; a copy that ignored the masters (its own random weights) is ~100% off.
            double error = RelativeError(fp32, bf16);
            Assert.True(error is > 0 and < 0.03, $"bf16 output {error:P2} off float32; expected (0, 3%)");

            // A change of the masters reaches the next pass (the copy is refreshed every call).
            using (no_grad()) foreach (var p in master.parameters()) p.mul_(Scalars.Of(-1.0));
            var flipped = compute.Forward(master, m => m.forward(BFloat16Compute.In(x)));
            Assert.True(RelativeError(master.forward(x), flipped) < 0.03, "the copy still holds the old weights");
        }
    }

    [Fact]
    public void GradientsToMasters_GivesTheMastersFloat32GradientsCloseToAFloat32Pass()
    {
        using var scope = NewDisposeScope();
        var (master, compute) = Pair();
        using (compute)
        using (master)
        {
            var x = Input();
            master.forward(x).pow(Scalars.Of(2)).mean().backward();
            var reference = master.parameters().Select(p => p.grad!.clone()).ToList();
            master.zero_grad();

            compute.Forward(master, m => m.forward(BFloat16Compute.In(x))).pow(Scalars.Of(2)).mean().backward();
            Assert.All(master.parameters(), p => Assert.True(p.grad is null || p.grad.abs().max().item<float>() == 0, "a master got a gradient before the hand-over"));
            compute.GradientsToMasters();

            var grads = master.parameters().Select(p => p.grad!).ToList();
            Assert.All(grads, g => Assert.Equal(ScalarType.Float32, g.dtype));
            Assert.All(master.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
            // The same 8-bit rounding as the forward's, through the backward's ops too: within 5% of each tensor's largest
            // float32 gradient (measured ~1%); a missing or doubled hand-over is 100% off.
            for (int i = 0; i < grads.Count; i++)
            {
                double error = RelativeError(reference[i], grads[i]);
                Assert.True(error < 0.05, $"gradient {i} is {error:P2} off the float32 pass; expected < 5%");
            }

            // A second hand-over without a new backward adds nothing: the copy's gradients were cleared.
            var before = grads.Select(g => g.clone()).ToList();
            compute.GradientsToMasters();
            Assert.All(Enumerable.Range(0, grads.Count), i => Assert.True(Same(master.parameters().ElementAt(i).grad!, before[i]), $"gradient {i} changed"));
        }
    }

    [Fact]
    public void MasterWeights_KeepUpdatesTooSmallForBf16()
    {
        using var testScope = NewDisposeScope();
        // The reason for float32 masters: 100 steps of 1e-4 relative are each below bf16's resolution (2^-8 ≈ 0.4%), so
        // bf16 weights round every one away; the masters add them up to ~1%, which the next bf16 pass then sees.
        using var scope = NewDisposeScope();
        var (master, compute) = Pair();
        using (compute)
        using (master)
        {
            var x = Input();
            var before = compute.Forward(master, m => m.forward(BFloat16Compute.In(x))).detach();
            var bf16Only = master.parameters().Select(p => p.detach().to(ScalarType.BFloat16)).ToList();   // training without masters
            var bf16Start = bf16Only.Select(b => b.clone()).ToList();
            using (no_grad())
                for (int i = 0; i < 100; i++)
                {
                    foreach (var p in master.parameters()) p.add_(p * Scalars.Of(1e-4), Scalars.One);
                    foreach (var b in bf16Only) b.add_(b * Scalars.Of(1e-4), Scalars.One);
                }
            Assert.All(master.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
            Assert.All(bf16Only.Zip(bf16Start), pair => Assert.True(Same(pair.First, pair.Second), "a bf16 weight kept a 1e-4 step"));
            var after = compute.Forward(master, m => m.forward(BFloat16Compute.In(x))).detach();
            // The last conv's output scales with its weights and bias: (1.0001^100)^k - 1 ≈ 1% per power of the weights.
            double moved = RelativeError(before, after);
            Assert.True(moved > 0.004, $"the bf16 pass moved {moved:P2} after the masters grew ~1%; expected the growth to reach it");
        }
    }

    [Fact]
    public void Constructor_ThrowsForAnotherArchitecture()
    {
        using var master = new TinyConvNet(channels: 8, dropoutP: 0);
        var e = Assert.Throws<ArgumentException>(() => new BFloat16Compute<TinyConvNet>(master, new TinyConvNet(channels: 4, dropoutP: 0)));
        Assert.Contains("do not match the model's", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_ThrowsForAMasterThatIsNotFloat32()
    {
        using var master = new TinyConvNet(dropoutP: 0);
        master.to(ScalarType.Float64);
        var e = Assert.Throws<ArgumentException>(() => new BFloat16Compute<TinyConvNet>(master, new TinyConvNet(dropoutP: 0)));
        Assert.Contains("is Float64; expected Float32", e.Message, StringComparison.Ordinal);
    }
}
