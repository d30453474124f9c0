using Latent.Pipeline.Metadata;
using Latent.Core.Imaging;
using Latent.Schedulers;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

/// <summary>AUTOMATIC1111's sampler names, both ways, and the PNG encoder shared by the CLI and the server.</summary>
public class SamplerNamesTests
{
    [Fact]
    public void A1111_CoversEveryKind_AndEachNameIsWhatFormatWrites()
    {
        Assert.Equal(Enum.GetValues<SchedulerKind>(), SamplerNames.A1111.Select(s => s.Kind));
        var config = SchedulerConfig.ForClass(SchedulerConfig.DdimClassName);
        foreach (var (name, kind, aliases) in SamplerNames.A1111)
        {
            Assert.Equal(name, SamplerNames.For(kind.ConfigFor(config)));
            Assert.Contains(kind.CliName(), aliases);
        }
    }

    [Theory]
    [InlineData("Euler a", null, SchedulerKind.EulerAncestral)]
    [InlineData("euler A", null, SchedulerKind.EulerAncestral)]
    [InlineData("k_dpmpp_2m", null, SchedulerKind.DpmPlusPlus2M)]
    [InlineData("DPM++ 2M", "Karras", SchedulerKind.DpmPlusPlus2MKarras)]
    [InlineData("Euler", "karras", SchedulerKind.EulerKarras)]
    [InlineData("DDIM", "Automatic", SchedulerKind.Ddim)]
    [InlineData("PLMS", "", SchedulerKind.Pndm)]
    public void ParseA1111_NameAndScheduler(string name, string? scheduler, SchedulerKind expected) =>
        Assert.Equal(expected, SamplerNames.ParseA1111(name, scheduler));

    [Theory]
    [InlineData("Heun", null)]
    [InlineData("DDIM", "Karras")]
    [InlineData("Euler", "Exponential")]
    public void ParseA1111_Unknown_IsNull(string name, string? scheduler) => Assert.Null(SamplerNames.ParseA1111(name, scheduler));

    [Fact]
    public void GenerationPng_IsThePngWithTheParametersChunk()
    {
        using var image = TestTensors.UniformPixels([3, 8, 8], new Generator(1));
        var parameters = new GenerationParameters("a cat", "", 3, "DDIM", 7.5, 4, 8, 8, "parity");
        byte[] png = GenerationPng.Encode(image, parameters);
        Assert.Equal(parameters.Format(), PngText.Get(png, GenerationParameters.PngKeyword));
        using Tensor back = ImageIO.Decode(png);
        Assert.Equal(new long[] { 3, 8, 8 }, back.shape);
    }
}
