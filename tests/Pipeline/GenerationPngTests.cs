using Latent.Pipeline.Metadata;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests;

/// <summary>The PNG that txt2img and the server write: made in one pass, byte for byte what inserting the chunk afterwards gives.</summary>
public class GenerationPngTests
{
    [Theory]
    [InlineData("a cat")]                // Latin-1: tEXt
    [InlineData("a cat, \u732b")]        // other characters: iTXt in UTF-8
    public void Encode_EqualsThePngWithTheChunkInsertedAfterIhdr(string prompt)
    {
        using var image = TestTensors.UniformPixels([3, 8, 8], new Generator(1));
        var parameters = new GenerationParameters(prompt, "", 3, "DDIM", 7.5, 4, 8, 8, "parity");
        byte[] expected = PngText.Write(ImageIO.EncodePng(image), GenerationParameters.PngKeyword, parameters.Format());
        Assert.Equal(expected, GenerationPng.Encode(image, parameters));
        Assert.Equal(parameters.Format(), PngText.Get(GenerationPng.Encode(image, parameters), GenerationParameters.PngKeyword));
    }

    [Fact]
    public void Encode_ThrowsForANulInTheText()
    {
        using var image = TestTensors.UniformPixels([3, 8, 8], new Generator(1));
        var e = Assert.Throws<ArgumentException>(() => GenerationPng.Encode(image, new GenerationParameters("a\0cat", "", 3, "DDIM", 7.5, 4, 8, 8)));
        Assert.Contains("NUL", e.Message);
    }
}
