using Latent.Core.Training;
using Latent.Vae;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Vae.Tests;

[Collection(Latent.Tests.GlobalRng.Name)]
public sealed class OverfitTests(ITestOutputHelper output)
{
    [Fact]
    public void Tiny_OverfitsOneBatch_L1LossFalls()
    {
        manual_seed(0);
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        vae.train();
        using var optimizer = new AdamWOptimizer(vae.named_parameters(), new AdamWConfig(LearningRate: 5e-3), AdamWOptimizer.DecayMatricesOnly);
        // Smooth images, as real ones are: [2, 3, 4, 4] uniform in [-1, 1] -> bilinear -> [2, 3, 16, 16].
        using var coarse = TestTensors.UniformPixels([2, 3, 4, 4], new Generator(1));
        using var batch = nn.functional.interpolate(coarse, new long[] { 16, 16 }, mode: InterpolationMode.Bilinear, align_corners: false);
        var losses = new List<float>();
        for (int step = 0; step < 30; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            var loss = nn.functional.l1_loss(vae.forward(batch), batch);
            loss.backward();
            optimizer.Step();
            losses.Add(loss.item<float>());
        }
        output.WriteLine($"L1: first {losses[0]:F4}, last {losses[^1]:F4}");
        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
        Assert.True(losses.TakeLast(5).Average() < 0.5 * losses.Take(5).Average(),
            $"loss did not fall enough: {string.Join(", ", losses.Select(l => l.ToString("F3")))}");
    }
}
