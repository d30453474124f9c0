using Latent.Core.Engine;
using Latent.Schedulers;
using Latent.Vae;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

public class ImageToImageTests(ParityPipelineFixture fixture) : IClassFixture<ParityPipelineFixture>
{
    readonly StableDiffusionPipeline pipe = fixture.Pipeline;

    static Tensor Image()
    {
        using var g = new Generator(3);
        return TestTensors.UniformPixels([3, 32, 32], g);
    }

    static ImageToImageRequest Request(Tensor image, double strength) => new()
    {
        Image = image,
        Strength = strength,
        Generation = new GenerationRequest { Prompts = ["a photo of a cat"], Steps = 10, Scheduler = SchedulerKind.Ddim, Seed = 4 },
    };

    [Fact]
    public void StrengthZero_RunsNoStep_AndDecodesThePosteriorSample()
    {
        using var image = Image();
        int calls = 0;
        pipe.UNetCalled = _ => calls++;
        GenerationResult result;
        try { result = pipe.ImageToImage(Request(image, 0)); } finally { pipe.UNetCalled = null; }
        using (result)
        {
            Assert.Equal(0, calls);
            // The same path by hand: z = sample of q(z | x) from Generator(seed), decode(z), clamp.
            using var vae = AutoencoderKL.FromPretrained(Path.Combine(TestEnvironment.Parity, "vae"));
            using var scope = NewDisposeScope();
            using var g = new Generator(4);
            using var posterior = vae.Encode(image.unsqueeze(0));
            var expected = vae.Decode(posterior.Sample(g)).clamp(Scalars.Of(-1), Scalars.Of(1));
            Assert.True(result.Images.allclose(expected, rtol: 0, atol: 1e-5));
        }
    }

    [Theory]
    [InlineData(0.6, 6)]
    [InlineData(1.0, 10)]
    [InlineData(0.05, 0)]
    public void Strength_RunsFloorOfStepsTimesStrength(double strength, int expectedCalls)
    {
        using var image = Image();
        int calls = 0;
        pipe.UNetCalled = _ => calls++;
        try { pipe.ImageToImage(Request(image, strength)).Dispose(); } finally { pipe.UNetCalled = null; }
        Assert.Equal(expectedCalls, calls);
    }

    [Fact]
    public void SharesTextToImagesRecipe_ItsStagesAndEngine()
    {
        // One recipe: the same stages in the same order, one U-Net call per remaining timestep, the same shape of call.
        using var image = Image();
        var shapes = new List<long[]>();
        pipe.UNetCalled = s => shapes.Add(s);
        GenerationResult i2i, t2i;
        try
        {
            i2i = pipe.ImageToImage(Request(image, 0.5));
            t2i = pipe.Generate(Request(image, 0.5).Generation with { Width = 32, Height = 32, Steps = 5 });
        }
        finally { pipe.UNetCalled = null; }
        using (i2i)
        using (t2i)
        {
            Assert.Equal(t2i.Timings.Stages.Select(s => s.Key), i2i.Timings.Stages.Select(s => s.Key));
            Assert.Equal(10, shapes.Count);
            Assert.All(shapes, s => Assert.Equal(new long[] { 2, 4, 16, 16 }, s));
            Assert.Equal(0.5, i2i.Settings.Strength);
            Assert.Null(t2i.Settings.Strength);
        }
    }

    [Fact]
    public void HigherStrength_MovesFurtherFromTheReconstruction()
    {
        using var scope = NewDisposeScope();
        // (The random parity VAE reconstructs poorly, so compare with strength 0, the reconstruction itself.)
        using var image = Image();
        using var none = pipe.ImageToImage(Request(image, 0));
        using var low = pipe.ImageToImage(Request(image, 0.2));
        using var high = pipe.ImageToImage(Request(image, 0.9));
        Tensor input = none.Images;
        double dLow = low.Images.sub(input).abs().mean().item<float>(), dHigh = high.Images.sub(input).abs().mean().item<float>();
        Assert.True(dHigh > dLow, $"strength 0.9 moved {dHigh}, strength 0.2 moved {dLow}");
    }

    [Fact]
    public void TwoImagesPerPrompt_GivesTheImagesSizeAndStrengthInTheParameters()
    {
        using var scope = NewDisposeScope();
        using var image = Image();
        var request = Request(image, 0.5);
        using var result = pipe.ImageToImage(request with { Generation = request.Generation with { ImagesPerPrompt = 2 } });
        Assert.Equal(new long[] { 2, 3, 32, 32 }, result.Images.shape);
        Assert.True(result.Images.isfinite().all().item<bool>());
        Assert.Contains(new KeyValuePair<string, string>("Denoising strength", "0.5"), result.Parameters[0].Extras!);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    public void StrengthOutsideZeroOne_Throws(double strength)
    {
        using var image = Image();
        var e = Assert.Throws<ArgumentException>(() => pipe.ImageToImage(Request(image, strength)));
        Assert.Contains($"Strength is {strength}", e.Message);
    }

    [Fact]
    public void ImageSizeNotAMultiple_NamesTheValueAndTheMultiple()
    {
        using var image = zeros(3, 30, 32);
        var e = Assert.Throws<ArgumentException>(() => pipe.ImageToImage(Request(image, 0.5)));
        Assert.Contains("height 30 is not a positive multiple of 4", e.Message);
    }
}
