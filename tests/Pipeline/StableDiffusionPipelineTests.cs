using Latent.Schedulers;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

/// <summary>The parity folder loaded once for the generation tests (generation is serialised by the pipeline's lock).</summary>
public sealed class ParityPipelineFixture : IDisposable
{
    /// <summary>The conformance pipeline, float32.</summary>
    public StableDiffusionPipeline Pipeline { get; } = StableDiffusionPipeline.Load(TestEnvironment.Parity);

    /// <summary>Frees the modules.</summary>
    public void Dispose() => Pipeline.Dispose();
}

/// <summary>Synchronous progress: the callback runs inside the pipeline's loop (Progress&lt;T&gt; would post it elsewhere).</summary>
sealed class Callback<T>(Action<T> action) : IProgress<T>
{
    public void Report(T value) => action(value);
}

public class StableDiffusionPipelineTests(ParityPipelineFixture fixture) : IClassFixture<ParityPipelineFixture>
{
    readonly StableDiffusionPipeline pipe = fixture.Pipeline;

    // Two images 32x32, 3 DDIM steps, guidance on.
    static GenerationRequest Request(long seed = 1, double cfg = 7.5) => new()
    {
        Prompts = ["a photo of a cat"],
        ImagesPerPrompt = 2,
        Steps = 3,
        Scheduler = SchedulerKind.Ddim,
        GuidanceScale = cfg,
        Seed = seed,
        Width = 32,
        Height = 32,
    };

    static bool BitEqual(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
    }

    /// <summary>Runs with a hook that records the sample shape of every U-Net call.</summary>
    List<long[]> CountingCalls(Action run)
    {
        var calls = new List<long[]>();
        pipe.UNetCalled = shape => calls.Add(shape);
        try { run(); } finally { pipe.UNetCalled = null; }
        return calls;
    }

    [Fact]
    public void Load_ParityFolder_HasTheModelsSizes()
    {
        Assert.Equal(2, pipe.VaeScaleFactor);
        Assert.Equal(4, pipe.SizeMultiple);
        Assert.Equal(32, pipe.DefaultSize);       // unet sample_size 16 x VAE factor 2
        Assert.Equal(SchedulerConfig.DdimClassName, pipe.SchedulerConfig.ClassName);
        Assert.Equal("parity", pipe.ModelName);
    }

    [Fact]
    public void Generate_TwoImages_GivesFiniteImagesInRange()
    {
        using var scope = NewDisposeScope();
        using var result = pipe.Generate(Request());
        Assert.Equal(new long[] { 2, 3, 32, 32 }, result.Images.shape);
        Assert.Equal(ScalarType.Float32, result.Images.dtype);
        Assert.True(result.Images.isfinite().all().item<bool>());
        Assert.True(result.Images.abs().max().item<float>() <= 1f);
        Assert.True(result.Images.std().item<float>() > 1e-3f);           // not a constant image
        Assert.False(BitEqual(result.Images[0], result.Images[1]));      // one draw of [2, 4, 16, 16]: two different noises
        Assert.Equal(new long[] { 1, 1 }, result.Seeds);
    }

    [Fact]
    public void Generate_SameSeed_IsBitForBitEqual_AndAnotherSeedDiffers()
    {
        using var a = pipe.Generate(Request(seed: 5));
        using var b = pipe.Generate(Request(seed: 5));
        using var c = pipe.Generate(Request(seed: 6));
        Assert.True(BitEqual(a.Images, b.Images));
        Assert.False(BitEqual(a.Images, c.Images));
    }

    [Fact]
    public void Generate_DrawsTheBatchsNoiseAsOneRandnFromOneSeededGenerator()
    {
        var request = Request(seed: 7);
        using var seeded = pipe.Generate(request);
        using var generator = new Generator(7);
        using var noise = randn([2, 4, 16, 16], generator: generator);
        using var given = pipe.Generate(request with { Latents = noise });
        Assert.True(BitEqual(seeded.Images, given.Images));
    }

    [Fact]
    public void Generate_GuidanceAboveOne_MakesOneBatchedUNetCallPerStep()
    {
        var calls = CountingCalls(() => pipe.Generate(Request(cfg: 7.5)).Dispose());
        Assert.Equal(3, calls.Count);
        Assert.All(calls, shape => Assert.Equal(new long[] { 4, 4, 16, 16 }, shape)); // [uncond; cond] for 2 images
    }

    [Fact]
    public void Generate_EmptyNegativePrompt_IsEncodedOncePerModel()
    {
        using var own = StableDiffusionPipeline.Load(TestEnvironment.Parity);
        using var first = own.Generate(Request(seed: 3));
        Assert.Equal(2, own.TextEncoderCalls);                       // the prompt and the empty negative prompt
        using var second = own.Generate(Request(seed: 3));
        Assert.Equal(3, own.TextEncoderCalls);                       // the prompt only: the empty prompt's states are kept
        Assert.True(BitEqual(first.Images, second.Images));
        using var negative = own.Generate(Request(seed: 3) with { NegativePrompt = "a dog" });
        Assert.Equal(5, own.TextEncoderCalls);                       // a real negative prompt is encoded every time
        Assert.False(BitEqual(first.Images, negative.Images));
    }

    [Fact]
    public void Generate_GuidanceAtMostOne_MakesOneUnguidedUNetCallPerStep()
    {
        var calls = CountingCalls(() => pipe.Generate(Request(cfg: 1.0)).Dispose());
        Assert.Equal(3, calls.Count);
        Assert.All(calls, shape => Assert.Equal(new long[] { 2, 4, 16, 16 }, shape));
    }

    [Fact]
    public void Generate_NegativePrompt_ChangesTheImagesOnlyWithGuidance()
    {
        using var plain = pipe.Generate(Request(cfg: 7.5));
        using var negative = pipe.Generate(Request(cfg: 7.5) with { NegativePrompt = "a dog" });
        using var unguided = pipe.Generate(Request(cfg: 1.0));
        using var unguidedNegative = pipe.Generate(Request(cfg: 1.0) with { NegativePrompt = "a dog" });
        Assert.False(BitEqual(plain.Images, negative.Images));
        Assert.True(BitEqual(unguided.Images, unguidedNegative.Images));
    }

    [Fact]
    public void Generate_ReportsProgressPerStep_WithTheSchedulersTimesteps()
    {
        var reports = new List<GenerationProgress>();
        pipe.Generate(Request(), new Callback<GenerationProgress>(reports.Add)).Dispose();
        // DDIM, leading spacing, steps_offset 1, 3 of 1000 steps: 667, 334, 1.
        Assert.Equal(new[] { new GenerationProgress(1, 3, 667), new GenerationProgress(2, 3, 334), new GenerationProgress(3, 3, 1) }, reports);
    }

    [Fact]
    public void Generate_CancelledFromProgressAtStep2_ThrowsAndMakesNoMoreUNetCalls()
    {
        using var cts = new CancellationTokenSource();
        var progress = new Callback<GenerationProgress>(p => { if (p.Step == 2) cts.Cancel(); });
        var calls = CountingCalls(() =>
            Assert.ThrowsAny<OperationCanceledException>(() => pipe.Generate(Request() with { Steps = 10 }, progress, cts.Token)));
        Assert.Equal(2, calls.Count);
    }

    [Fact]
    public async Task Generate_ConcurrentCalls_GiveTheSequentialImages()
    {
        using var first = pipe.Generate(Request(seed: 11));
        using var second = pipe.Generate(Request(seed: 12));
        var tasks = new[] { 11L, 12L }.Select(seed => Task.Run(() => pipe.Generate(Request(seed)))).ToArray();
        GenerationResult[] results = await Task.WhenAll(tasks);
        using var a = results[0];
        using var b = results[1];
        Assert.True(BitEqual(first.Images, a.Images));
        Assert.True(BitEqual(second.Images, b.Images));
    }

    [Fact]
    public void Generate_RepeatedCalls_LeaveNoLiveTensors()
    {
        pipe.Generate(Request()).Dispose();
        long before = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) pipe.Generate(Request(seed: i)).Dispose();
        long after = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.Equal(before, after);
    }

    [Fact]
    public void Generate_Parameters_DescribeEachImage()
    {
        using var result = pipe.Generate(Request(seed: 3) with { NegativePrompt = "blurry" });
        var p = result.Parameters[1];
        Assert.Equal(("a photo of a cat", "blurry", 3, "DDIM", 7.5, 3L, 32, 32, "parity"),
            (p.Prompt, p.NegativePrompt, p.Steps, p.Sampler, p.CfgScale, p.Seed, p.Width, p.Height, p.Model));
        Assert.Contains(new KeyValuePair<string, string>("Batch pos", "1"), p.Extras!);
    }

    [Theory]
    [InlineData(30, 32, "width 30 is not a positive multiple of 4")]
    [InlineData(32, 34, "height 34 is not a positive multiple of 4")]
    public void Generate_SizeNotAMultiple_NamesTheValueAndTheMultiple(int width, int height, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => pipe.Generate(Request() with { Width = width, Height = height }));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Generate_EmptyPrompt_Throws(string prompt)
    {
        var e = Assert.Throws<ArgumentException>(() => pipe.Generate(Request() with { Prompts = [prompt] }));
        Assert.Contains("prompt 0 is empty", e.Message);
    }

    [Fact]
    public void Generate_LatentsOfTheWrongShape_NamesBothShapes()
    {
        using var latents = zeros(1, 4, 16, 16);
        var e = Assert.Throws<ArgumentException>(() => pipe.Generate(Request() with { Latents = latents }));
        Assert.Contains("[1, 4, 16, 16]", e.Message);
        Assert.Contains("[2, 4, 16, 16]", e.Message);
    }

    [Theory]
    [InlineData(SchedulerKind.EulerAncestral)]
    [InlineData(SchedulerKind.DpmPlusPlus2M)]
    [InlineData(SchedulerKind.Ddpm)]
    [InlineData(SchedulerKind.Pndm)]
    [InlineData(SchedulerKind.Euler)]
    [InlineData(SchedulerKind.EulerKarras)]
    public void Generate_EverySampler_GivesFiniteDeterministicImages(SchedulerKind kind)
    {
        using var scope = NewDisposeScope();
        using var a = pipe.Generate(Request() with { Scheduler = kind });
        using var b = pipe.Generate(Request() with { Scheduler = kind });
        Assert.True(a.Images.isfinite().all().item<bool>());
        Assert.True(BitEqual(a.Images, b.Images));
    }
}
