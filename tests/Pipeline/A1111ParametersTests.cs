using Latent.Pipeline.Metadata;
using Latent.Core.Imaging;
using Latent.Pipeline.Lora;
using Latent.Schedulers;

namespace Latent.Pipeline.Tests;

/// <summary>The A1111 metadata made from a call's <see cref="GenerationSettings"/> (the pipeline itself writes none).</summary>
public class A1111ParametersTests
{
    static GenerationSettings Settings(GenerationRequest request, double? strength = null, IReadOnlyList<LoraSpec>? loras = null, IReadOnlyList<string>? hashes = null) =>
        new(request, SchedulerConfig.ForClass(SchedulerConfig.DdimClassName), "emoji-64", loras ?? [], hashes ?? [], strength);

    static readonly GenerationRequest Cat = new() { Prompts = ["a cat"], NegativePrompt = "blurry", Steps = 12, GuidanceScale = 7.5, Seed = 5, Width = 64, Height = 48 };

    [Fact]
    public void OneImage_CarriesTheResolvedSettings_AndNoExtras()
    {
        GenerationParameters p = Assert.Single(A1111Parameters.For(Settings(Cat)));
        Assert.Equal(new GenerationParameters("a cat", "blurry", 12, "DDIM", 7.5, 5, 64, 48, "emoji-64", []), p with { Extras = [] });
        Assert.Empty(p.Extras!);
    }

    [Fact]
    public void Batch_NumbersEachImage_WithItsPrompt()
    {
        var request = Cat with { Prompts = ["a cat", "a dog"], ImagesPerPrompt = 2 };
        GenerationParameters[] all = A1111Parameters.For(Settings(request));
        Assert.Equal(["a cat", "a cat", "a dog", "a dog"], all.Select(p => p.Prompt));
        for (int i = 0; i < 4; i++)
        {
            Assert.Contains(new KeyValuePair<string, string>("Batch size", "4"), all[i].Extras!);
            Assert.Contains(new KeyValuePair<string, string>("Batch pos", i.ToString()), all[i].Extras!);
        }
    }

    [Fact]
    public void EtaStrengthAndLoras_AreTheExtrasInA1111sOrder()
    {
        var loras = new[] { new LoraSpec("/x/style.safetensors", 0.8) };
        GenerationParameters p = A1111Parameters.For(Settings(Cat with { Eta = 0.5 }, strength: 0.25, loras, ["0123456789ab"]))[0];
        Assert.Equal("a cat <lora:style:0.8>", p.Prompt);
        Assert.Equal(["Eta DDIM", "Denoising strength", "Lora hashes"], p.Extras!.Select(e => e.Key));
        Assert.Equal(["0.5", "0.25", "style: 0123456789ab"], p.Extras!.Select(e => e.Value));
    }

    [Fact]
    public void Eta_IsLeftOut_ForSamplersOtherThanDdim()
    {
        var settings = Settings(Cat with { Eta = 0.5 }) with { Scheduler = SchedulerKind.Euler.ConfigFor(SchedulerConfig.ForClass(SchedulerConfig.DdimClassName)) };
        Assert.Empty(A1111Parameters.For(settings)[0].Extras!);
    }
}
