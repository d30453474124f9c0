using Latent.Vae;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Vae.Tests;

public sealed class AutoencoderKLTests(ITestOutputHelper output)
{
    [Fact]
    public void Tiny_EncodeDecode_HaveLatentAndImageShapes()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var noGrad = no_grad();
        var x = TestTensors.UniformPixels([2, 3, 16, 16], new Generator(2));
        using var posterior = vae.Encode(x);
        Assert.Equal(new long[] { 2, 8, 8, 8 }, posterior.Parameters.shape);
        Assert.Equal(new long[] { 2, 4, 8, 8 }, posterior.Mean.shape);
        var y = vae.Decode(posterior.Mode());
        Assert.Equal(new long[] { 2, 3, 16, 16 }, y.shape);
        Assert.False(y.isnan().any().item<bool>());
    }

    [Fact]
    public void Default_Maps64PixelImagesTo16x16x4Latents()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var vae = new AutoencoderKL(VaeConfig.Default);
        vae.eval();
        using var noGrad = no_grad();
        long parameters = vae.parameters().Sum(p => p.numel());
        output.WriteLine($"Default VAE parameters: {parameters:N0}");
        Assert.InRange(parameters, 5_000_000, 10_000_000);
        var x = TestTensors.UniformPixels([1, 3, 64, 64], new Generator(2));
        using var posterior = vae.Encode(x);
        Assert.Equal(new long[] { 1, 4, 16, 16 }, posterior.Mean.shape);
        Assert.Equal(new long[] { 1, 3, 64, 64 }, vae.Decode(posterior.Mean).shape);
    }

    [Fact]
    public void Forward_SamplePosterior_IsReproducibleWithGeneratorAndDiffersFromMode()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var noGrad = no_grad();
        var x = TestTensors.UniformPixels([1, 3, 16, 16], new Generator(4));
        var a = vae.Forward(x, samplePosterior: true, new Generator(9));
        var b = vae.Forward(x, samplePosterior: true, new Generator(9));
        var mode = vae.forward(x);
        Assert.True(a.equal(b).all().item<bool>());
        Assert.True((a - mode).abs().max().item<float>() > 1e-4);
    }

    [Fact]
    public void Encode_ThrowsForWrongChannels()
    {
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var x = zeros(1, 1, 16, 16);
        var e = Assert.Throws<ArgumentException>(() => vae.Encode(x));
        Assert.Contains("[B, 3, H, W]", e.Message);
        Assert.Contains("[1, 1, 16, 16]", e.Message);
    }

    [Fact]
    public void Encode_ThrowsForSizeNotDivisibleByFactor()
    {
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var x = zeros(1, 3, 15, 16);
        var e = Assert.Throws<ArgumentException>(() => vae.Encode(x));
        Assert.Contains("multiples of 2", e.Message);
    }

    [Fact]
    public void Decode_ThrowsForWrongLatentChannels()
    {
        using var vae = new AutoencoderKL(VaeConfig.Tiny);
        using var z = zeros(1, 8, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => vae.Decode(z));
        Assert.Contains("[B, 4, H, W]", e.Message);
    }
}
