using System.Text.Json;
using Latent.Core.Data;
using Latent.Training.UNet;

namespace Latent.Training.Tests.UNet;

public class ImageGroupsTests
{
    static ImageFolderRecord Record(string file, string? fieldsJson) => new(file, "/data/" + file, ["a caption"], 1, "train",
        fieldsJson is null
            ? new Dictionary<string, JsonElement>()
            : JsonDocument.Parse(fieldsJson).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()));

    [Fact]
    public void By_NumbersGroupsInOrderOfFirstAppearance()
    {
        var records = new[]
        {
            Record("a.png", """{"base": "1F44D"}"""), Record("b.png", """{"base": "1F431"}"""),
            Record("c.png", """{"base": "1F44D"}"""), Record("d.png", """{"base": 12}"""),
        };
        Assert.Equal(new[] { 0, 1, 0, 2 }, ImageGroups.By(records, "base"));
    }

    [Fact]
    public void By_ThrowsNamingTheFirstImageWithoutTheField()
    {
        var records = new[] { Record("a.png", """{"base": "1F44D"}"""), Record("b.png", """{"unified": "1F431"}"""), Record("c.png", """{"base": ""}""") };
        var e = Assert.Throws<InvalidDataException>(() => ImageGroups.By(records, "base"));
        Assert.Contains("2 of 3 images", e.Message);
        Assert.Contains("'b.png'", e.Message);
        Assert.Contains("latent data emoji", e.Message);
    }
}
