using Latent.Core.IO;
using Latent.Vae;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Vae.Tests;

/// <summary>The conformance VAE (tests/fixtures/parity/vae) against diffusers' reference vectors.</summary>
public sealed class ParityTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;

    private readonly Dictionary<string, Tensor> vectors = SafeTensors.Load(Path.Combine(TestEnvironment.Parity, "vectors", "vae.safetensors"));

    private static string VaeDir => Path.Combine(TestEnvironment.Parity, "vae");

    private double MaxDiff(string name, Tensor actual)
    {
        using var scope = NewDisposeScope();
        var expected = vectors[name];
        Assert.Equal(expected.shape, actual.shape);
        double diff = (actual - expected).abs().max().item<float>();
        output.WriteLine($"{name}: max abs diff {diff:E2}");
        return diff;
    }

    [Fact]
    public void FromPretrained_LoadsConformanceFolderStrictly()
    {
        using var vae = AutoencoderKL.FromPretrained(VaeDir);
        Assert.Equal([32, 64], vae.Config.BlockOutChannels);
        Assert.Equal(2, vae.Config.DownsampleFactor);
        using var file = SafeTensors.Open(Path.Combine(VaeDir, AutoencoderKL.WeightsFileName));
        Assert.Equal(file.Tensors.Count, vae.state_dict().Count);
    }

    [Fact]
    public void Encode_MatchesDiffusers()
    {
        using var scope = NewDisposeScope();
        using var vae = AutoencoderKL.FromPretrained(VaeDir);
        vae.eval();
        using var noGrad = no_grad();
        using var posterior = vae.Encode(vectors["x"]);
        var diffs = new[]
        {
            MaxDiff("moments", posterior.Parameters),
            MaxDiff("mean", posterior.Mean),
            MaxDiff("logvar", posterior.LogVar),
            MaxDiff("std", posterior.Std),
            MaxDiff("sample", posterior.Sample(vectors["sample_noise"])),
        };
        Assert.All(diffs, d => Assert.True(d < Tolerance, $"max abs diff {d:E2} >= {Tolerance}"));
    }

    [Fact]
    public void Decode_OfMean_MatchesDiffusers()
    {
        using var scope = NewDisposeScope();
        using var vae = AutoencoderKL.FromPretrained(VaeDir);
        vae.eval();
        using var noGrad = no_grad();
        double diff = MaxDiff("decoded", vae.Decode(vectors["mean"]));
        Assert.True(diff < Tolerance, $"max abs diff {diff:E2} >= {Tolerance}");
    }

    public void Dispose()
    {
        foreach (var t in vectors.Values) t.Dispose();
    }
}
