using Latent.Core.Config;

namespace Latent.Core.Tests.Config;

public class ConfigFileErrorTests
{
    [Fact]
    public void Read_ThrowsForMissingFile()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "vae", "config.json");

        var e = Assert.Throws<FileNotFoundException>(() => ConfigFile.Read<DiffusersConfig>(path));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Read_ThrowsForDirectoryWithHint()
    {
        string dir = TestEnvironment.NewTempDir();

        var e = Assert.Throws<FileNotFoundException>(() => ConfigFile.Read<DiffusersConfig>(dir));

        Assert.Contains("is a directory", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForInvalidJsonWithLineAndByte()
    {
        const string Text = "{\n  \"a\": 1,\n  \"b\": tru\n}\n";

        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<DiffusersConfig>(Text, "bad.json"));

        Assert.StartsWith("Invalid config 'bad.json': not valid JSON at line 3, byte 11: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Null(e.Key);
    }

    [Fact]
    public void ReadText_InvalidJsonPositionCountsBareTokensAsWritten()
    {
        // "x" is at byte 33 (1-based) of line 1 in the text as written, although the scanner lengthened -Infinity and NaN.
        const string Text = "{\"a\": -Infinity, \"b\": NaN, \"c\": x}";

        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<DiffusersConfig>(Text, "bad.json"));

        Assert.Contains("at line 1, byte 33:", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForMisspelledToken()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<DiffusersConfig>("{\"a\": NaNa}", "bad.json"));

        Assert.Contains("not valid JSON at line 1", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForTrailingComma()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<DiffusersConfig>("{\"a\": 1,}", "bad.json"));

        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForDuplicateKey()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<DiffusersConfig>("{\"a\": 1, \"a\": 2}", "dup.json"));

        Assert.Contains("not valid JSON", e.Message);
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForTopLevelArray()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<DiffusersConfig>("[1, 2]", "arr.json"));

        Assert.Contains("the top level is Array, expected a JSON object", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForReservedMarkerString()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<DiffusersConfig>("{\"a\": \"\\u0000NaN\"}", "m.json"));

        Assert.Contains("reserved", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForWrongTypeNamingKeyValueAndType()
    {
        var e = Assert.Throws<ConfigException>(() =>
            ConfigFile.ReadText<ExampleSchedulerConfig>("{\"num_train_timesteps\": \"1000\"}", "s.json"));

        Assert.Equal("num_train_timesteps", e.Key);
        Assert.Equal("Invalid config 's.json', key \"num_train_timesteps\": the value \"1000\" is not an integer (Int32), "
            + "as ExampleSchedulerConfig.NumTrainTimesteps expects.", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForFloatInIntegerKey()
    {
        var e = Assert.Throws<ConfigException>(() =>
            ConfigFile.ReadText<ExampleSchedulerConfig>("{\"steps_offset\": 1.5}", "s.json"));

        Assert.Contains("the value 1.5 is not an integer (Int32)", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForWrongArrayItemNamingTheArray()
    {
        var e = Assert.Throws<ConfigException>(() =>
            ConfigFile.ReadText<ExampleVaeConfig>("{\"block_out_channels\": [32, \"64\"]}", "v.json"));

        Assert.Equal("block_out_channels", e.Key);
        Assert.Contains("is not an array (each item an integer (Int32))", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForNullInNonNullableKey()
    {
        var e = Assert.Throws<ConfigException>(() =>
            ConfigFile.ReadText<ExampleVaeConfig>("{\"block_out_channels\": null}", "v.json"));

        Assert.Equal("block_out_channels", e.Key);
        Assert.Contains("the value null is not an array", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForStringInDoubleKey()
    {
        var e = Assert.Throws<ConfigException>(() =>
            ConfigFile.ReadText<ExampleSchedulerConfig>("{\"clip_sample_range\": \"Infinity\"}", "s.json"));

        Assert.Contains("the value \"Infinity\" is not a number", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForUnknownEnumValueListingTheValidOnes()
    {
        var e = Assert.Throws<ConfigException>(() =>
            ConfigFile.ReadText<ExampleSchedulerConfig>("{\"beta_schedule\": \"cosine\"}", "s.json"));

        Assert.Contains("the value \"cosine\" is not one of \"linear\", \"scaled_linear\", \"squaredcos_cap_v2\"", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForClassNameMismatchNamingBoth()
    {
        string path = Path.Combine(TestEnvironment.Parity, "unet", "config.json");

        var e = Assert.Throws<ConfigException>(() => ConfigFile.Read<ExampleVaeConfig>(path, expectedClassName: "AutoencoderKL"));

        Assert.Equal("_class_name", e.Key);
        Assert.Contains("the file describes UNet2DConditionModel, but AutoencoderKL was expected", e.Message);
    }

    [Fact]
    public void ReadText_ThrowsForArchitectureMismatch()
    {
        string path = Path.Combine(TestEnvironment.Parity, "text_encoder", "config.json");

        var e = Assert.Throws<ConfigException>(() =>
            ConfigFile.Read<ExampleTextConfig>(path, expectedClassName: "CLIPTextModelWithProjection"));

        Assert.Equal("architectures", e.Key);
        Assert.Contains("[CLIPTextModel], but CLIPTextModelWithProjection was expected", e.Message);
    }

    [Fact]
    public void ReadText_AcceptsMissingClassNameWhenOneIsExpected()
    {
        var read = ConfigFile.ReadText<ExampleVaeConfig>("{\"latent_channels\": 8}", "v.json", expectedClassName: "AutoencoderKL");

        Assert.Equal(8, read.Config.LatentChannels);
    }

    [Fact]
    public void Write_ThrowsForKeyBothDeclaredAndInExtensionData()
    {
        var config = new ExampleVaeConfig();
        config.ExtensionData["latent_channels"] = System.Text.Json.JsonDocument.Parse("8").RootElement.Clone();

        var e = Assert.Throws<ArgumentException>(() => ConfigFile.ToJsonText(config));

        Assert.Contains("\"latent_channels\" is both a declared property and an ExtensionData entry", e.Message);
    }
}
