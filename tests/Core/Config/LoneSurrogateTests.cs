using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.IO;
using Latent.Core.Tests.Data;
using Latent.Core.Tests.IO;

namespace Latent.Core.Tests.Config;

/// <summary>A lone surrogate escape (<c>"\ud800"</c>) is valid JSON syntax but not text: every JSON reader turns it
/// into its own typed error naming the file, never an InvalidOperationException from deep inside System.Text.Json.</summary>
public class LoneSurrogateTests
{
    const string Lone = @"\ud800";

    [Theory]
    [InlineData($$"""{"_class_name": "StableDiffusionPipeline", "vae": ["diffusers", "{{Lone}}"]}""", "$.vae[1]")]
    [InlineData($$"""{"_class_name": "StableDiffusionPipeline", "{{Lone}}x": 1}""", "$.{key #1}")]
    [InlineData($$"""{"_class_name": "{{Lone}}"}""", "$._class_name")]
    public void ConfigRead_NamesFileAndPlace(string json, string where)
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "model_index.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<ConfigException>(() => ConfigFile.Read<ModelIndex>(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("lone UTF-16 surrogate", e.Message);
        Assert.Contains(where, e.Message);
    }

    [Fact]
    public void PythonJsonParse_ThrowsConfigException()
    {
        var e = Assert.Throws<ConfigException>(() => PythonJson.Parse($$"""{"bos_token": "{{Lone}}"}""", "tokenizer_config.json"));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("$.bos_token", e.Message);
    }

    [Fact]
    public void PairedSurrogates_AreText()
    {
        Assert.Null(JsonStrings.FindUndecodable(System.Text.Json.JsonDocument.Parse(@"{""\ud83d\ude00"": [""\ud83d\ude00""]}").RootElement));
    }

    [Theory]
    [InlineData($$$"""{"{{{Lone}}}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""")]
    [InlineData($$$"""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"format":"{{{Lone}}}"}}""")]
    [InlineData($$$"""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"{{{Lone}}}":"pt"}}""")]
    public void SafeTensorsHeader_ThrowsFormatException(string header)
    {
        string path = RawSafeTensors.Write("w.safetensors", header, new byte[4]);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains("lone UTF-16 surrogate", e.Message);
    }

    [Theory]
    [InlineData($$"""{"file_name": "img0.png", "text": "{{Lone}}"}""")]
    [InlineData($$"""{"file_name": "img0.png", "text": ["ok", "{{Lone}}"]}""")]
    [InlineData($$"""{"file_name": "{{Lone}}.png", "text": "ok"}""")]
    [InlineData($$"""{"file_name": "img0.png", "text": "ok", "{{Lone}}": 1}""")]
    public void DatasetRead_NamesFileAndLine(string badLine)
    {
        string dir = ImageFolderFixture.Images(1);
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "fine"}""", badLine);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("metadata.jsonl line 2", e.Message);
        Assert.Contains("lone UTF-16 surrogate", e.Message);
    }
}
