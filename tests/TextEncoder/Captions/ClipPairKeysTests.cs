using System.Text.Json;
using Latent.Core.Data;
using Latent.TextEncoder.Captions;

namespace Latent.TextEncoder.Tests.Captions;

public class ClipPairKeysTests
{
    static ImageFolderRecord Record(string caption, string? unified) => new("a.png", "/a.png", [caption], 1, "train",
        unified is null ? new Dictionary<string, JsonElement>() : new Dictionary<string, JsonElement> { ["unified"] = JsonSerializer.SerializeToElement(unified) });

    [Fact]
    public void Of_SameEmojiWithAndWithoutVariationSelector_SameKey()
    {
        Assert.Equal(ClipPairKeys.Of(Record("red heart", "2764-FE0F"), "unified"), ClipPairKeys.Of(Record("heart", "2764"), "unified"));
        Assert.Equal("key:1F93E-200D-2640", ClipPairKeys.Of(Record("woman playing handball", "1f93e-200d-2640-fe0f"), "unified"));
    }

    [Fact]
    public void Of_WithoutKeyField_FallsBackToFirstCaption()
    {
        Assert.Equal("caption:cat face", ClipPairKeys.Of(Record(" Cat Face ", null), "unified"));
        Assert.NotEqual(ClipPairKeys.Of(Record("1F431", null), "unified"), ClipPairKeys.Of(Record("x", "1F431"), "unified"));
    }

    [Fact]
    public void FalseNegatives_MarksSameKeyAndSameText_NeverTheDiagonal()
    {
        var mask = ClipPairKeys.FalseNegatives(["a", "b", "a", "c"], ["cat", "dog", "cat face", "dog"]);
        var expected = new bool[4, 4];
        expected[0, 2] = expected[2, 0] = true;   // same key
        expected[1, 3] = expected[3, 1] = true;   // same text, different keys
        Assert.Equal(expected, mask);
    }

    [Fact]
    public void FalseNegatives_LengthMismatch_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => ClipPairKeys.FalseNegatives(["a", "b"], ["x"]));
        Assert.Contains("(2)", e.Message);
        Assert.Contains("1 texts", e.Message);
    }
}
