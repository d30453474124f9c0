using System.Diagnostics;
using Latent.Core.Engine;
using Latent.TextEncoder;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Tests.Model;

/// <summary>Size and speed of the Default text encoder: the count is asserted, the time only reported.</summary>
public class ClipTextMeasurements(ITestOutputHelper output)
{
    [Fact]
    public void DefaultModel_ParameterCount_MatchesFormula_AndEncodeTimeIsReported()
    {
        var c = ClipTextConfig.Default;
        long d = c.HiddenSize, f = c.IntermediateSize;
        long perLayer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 4 * d;
        long expected = c.VocabSize * d + c.MaxPositionEmbeddings * d + c.NumHiddenLayers * perLayer + 2 * d;

        torch.manual_seed(0);
        using var model = new ClipTextModel(c);
        model.eval();
        long count = model.parameters().Sum(p => p.numel());
        Assert.Equal(expected, count);

        using var ids = full(2, 77, Scalars.Of((long)c.EosTokenId));
        using (var words = randint(0, 4000, new long[] { 2, 12 }, generator: new Generator(0)))
            ids[.., 1..13] = words;
        using var noGrad = no_grad();
        using (var warm = model.forward(ids)) { }
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            using var h = model.forward(ids);
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        output.WriteLine($"Default CLIP text encoder: {count:N0} parameters; encode [2, 77]: median {times[2]:F2} ms (min {times[0]:F2}, max {times[4]:F2})");
    }
}
