using System.Text.Json.Nodes;
using Latent.Core.Config;

namespace Latent.Core.Tests.Config;

public class ConfigFileTests
{
    static string Parity(string relative) => Path.Combine(TestEnvironment.Parity, relative);

    static string WriteAndReadBack<T>(T config) where T : JsonConfig
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "sub", "config.json");
        ConfigFile.Write(path, config);
        return File.ReadAllText(path);
    }

    static void AssertSameJson(string expected, string actual) =>
        Assert.True(JsonNode.DeepEquals(PythonJson.Parse(expected, "expected"), PythonJson.Parse(actual, "actual")),
            $"JSON differs.\nexpected:\n{expected}\nactual:\n{actual}");

    [Theory]
    [InlineData("vae/config.json")]
    [InlineData("unet/config.json")]
    [InlineData("scheduler/scheduler_config.json")]
    public void ParityDiffusersConfig_RoundTripsByteForByte(string relative)
    {
        string original = File.ReadAllText(Parity(relative));
        var read = ConfigFile.Read<DiffusersConfig>(Parity(relative));

        string written = WriteAndReadBack(read.Config);

        AssertSameJson(original, written);
        Assert.Equal(original, written);
    }

    [Fact]
    public void ParityTransformersConfig_RoundTripsByteForByte()
    {
        string path = Parity("text_encoder/config.json");
        var read = ConfigFile.Read<TransformersConfig>(path, expectedClassName: "CLIPTextModel");

        Assert.Equal(["CLIPTextModel"], read.Config.Architectures!);
        Assert.Equal("clip_text_model", read.Config.ModelType);
        Assert.Equal("float32", read.Config.TorchDtype);
        Assert.Equal("4.33.0.dev0", read.Config.TransformersVersion);
        Assert.DoesNotContain("architectures", read.UnknownKeys);
        Assert.Contains("vocab_size", read.UnknownKeys);
        Assert.Equal(File.ReadAllText(path), WriteAndReadBack(read.Config));
    }

    [Fact]
    public void ParityDiffusersConfig_MetadataKeysAreTolerated()
    {
        var read = ConfigFile.Read<DiffusersConfig>(Parity("unet/config.json"), expectedClassName: "UNet2DConditionModel");

        Assert.Equal("UNet2DConditionModel", read.Config.ClassName);
        Assert.Equal("0.21.4", read.Config.DiffusersVersion);
        Assert.Null(read.Config.NameOrPath);
        Assert.DoesNotContain(read.UnknownKeys, k => k.StartsWith('_'));
    }

    [Fact]
    public void NameOrPath_IsReadAndWrittenBack()
    {
        const string Text = "{\n  \"_class_name\": \"AutoencoderKL\",\n  \"_diffusers_version\": \"0.8.0\",\n  \"_name_or_path\": \"hf/sd/vae\"\n}\n";
        var read = ConfigFile.ReadText<DiffusersConfig>(Text, "mem");

        Assert.Equal("hf/sd/vae", read.Config.NameOrPath);
        Assert.Empty(read.UnknownKeys);
        Assert.Equal(Text, ConfigFile.ToJsonText(read.Config));
    }

    [Fact]
    public void TypedScheduler_ReadsParityValues()
    {
        var read = ConfigFile.Read<ExampleSchedulerConfig>(Parity("scheduler/scheduler_config.json"), "DDIMScheduler");
        ExampleSchedulerConfig c = read.Config;

        Assert.Empty(read.UnknownKeys);
        Assert.Null(read.Warning);
        Assert.Equal("DDIMScheduler", c.ClassName);
        Assert.Equal(1000, c.NumTrainTimesteps);
        Assert.Equal(0.00085, c.BetaStart);
        Assert.Equal(0.012, c.BetaEnd);
        Assert.Equal(ExampleBetaSchedule.ScaledLinear, c.BetaSchedule);
        Assert.Null(c.TrainedBetas);
        Assert.False(c.ClipSample);
        Assert.Equal(1.0, c.ClipSampleRange);
        Assert.False(c.SetAlphaToOne);
        Assert.Equal(1, c.StepsOffset);
        Assert.Equal(ExamplePredictionType.Epsilon, c.PredictionType);
        Assert.Equal(0.995, c.DynamicThresholdingRatio);
        Assert.Equal(ExampleTimestepSpacing.Leading, c.TimestepSpacing);
        Assert.False(c.RescaleBetasZeroSnr);
    }

    [Fact]
    public void TypedScheduler_WritesParityFileBackByteForByte()
    {
        string path = Parity("scheduler/scheduler_config.json");
        var read = ConfigFile.Read<ExampleSchedulerConfig>(path);

        Assert.Equal(File.ReadAllText(path), WriteAndReadBack(read.Config));
    }

    [Fact]
    public void TypedVae_KeepsUndeclaredKeysAndWritesParityFileBack()
    {
        string path = Parity("vae/config.json");
        var read = ConfigFile.Read<ExampleVaeConfig>(path, "AutoencoderKL");

        Assert.Equal([32, 64], read.Config.BlockOutChannels);
        Assert.Equal(0.18215, read.Config.ScalingFactor);
        Assert.Equal(4, read.Config.LatentChannels);
        Assert.Equal(["act_fn", "down_block_types", "in_channels", "layers_per_block", "norm_num_groups", "out_channels",
            "sample_size", "up_block_types"], read.UnknownKeys);
        Assert.Equal(File.ReadAllText(path), WriteAndReadBack(read.Config));
    }

    [Fact]
    public void TypedTextEncoder_ReadsAndWritesParityFileBack()
    {
        string path = Parity("text_encoder/config.json");
        var read = ConfigFile.Read<ExampleTextConfig>(path, "CLIPTextModel");

        Assert.Equal(32, read.Config.HiddenSize);
        Assert.Equal(1e-5, read.Config.LayerNormEps);
        Assert.Equal(File.ReadAllText(path), WriteAndReadBack(read.Config));
    }

    [Fact]
    public void UnknownKeys_AreReportedOnceAndWrittenBackRaw()
    {
        const string Text = """
            {"_class_name": "DDIMScheduler", "num_train_timesteps": 500, "foo": [1, 1.0, {"z": null, "a": "x"}],
             "bar": 1.0, "baz": NaN}
            """;
        var read = ConfigFile.ReadText<ExampleSchedulerConfig>(Text, "sched.json");

        Assert.Equal(["foo", "bar", "baz"], read.UnknownKeys);
        Assert.Equal("sched.json: 3 key(s) not used by ExampleSchedulerConfig, kept as-is and written back: foo, bar, baz",
            read.Warning);
        string written = ConfigFile.ToJsonText(read.Config);
        Assert.Contains("  \"bar\": 1.0,\n", written);
        Assert.Contains("  \"baz\": NaN,\n", written);
        Assert.Contains("  \"foo\": [\n    1,\n    1.0,\n    {\n      \"a\": \"x\",\n      \"z\": null\n    }\n  ],\n", written);
        Assert.Contains("  \"num_train_timesteps\": 500,\n", written);
        var again = ConfigFile.ReadText<ExampleSchedulerConfig>(written, "again");
        Assert.Equal(["bar", "baz", "foo"], again.UnknownKeys); // the written file is sorted
        Assert.Equal(written, ConfigFile.ToJsonText(again.Config));
    }

    [Fact]
    public void BareNonFiniteTokens_ReadAndWriteBackBare()
    {
        const string Text = "{\n  \"_class_name\": \"DDIMScheduler\",\n  \"clip_sample_range\": Infinity,\n  \"extra\": [\n    NaN,\n    -Infinity,\n    \"NaN\",\n    \"-Infinity\"\n  ],\n  \"low\": -Infinity\n}\n";
        var raw = ConfigFile.ReadText<DiffusersConfig>(Text, "mem");
        Assert.Equal(Text, ConfigFile.ToJsonText(raw.Config));

        var typed = ConfigFile.ReadText<ExampleSchedulerConfig>(Text, "mem").Config;
        Assert.Equal(double.PositiveInfinity, typed.ClipSampleRange);
        string written = ConfigFile.ToJsonText(typed with { BetaEnd = double.NaN, BetaStart = double.NegativeInfinity });
        Assert.Contains("  \"clip_sample_range\": Infinity,\n", written);
        Assert.Contains("  \"beta_end\": NaN,\n", written);
        Assert.Contains("  \"beta_start\": -Infinity,\n", written);
        Assert.Contains("  \"low\": -Infinity,\n", written);
        Assert.Contains("    \"NaN\",\n", written);
        var back = ConfigFile.ReadText<ExampleSchedulerConfig>(written, "back").Config;
        Assert.True(double.IsNaN(back.BetaEnd));
        Assert.Equal(double.NegativeInfinity, back.BetaStart);
    }

    [Fact]
    public void TypedDouble_WrittenAsPythonFloatAndSemanticallyEqual()
    {
        const string Text = "{\"scaling_factor\": 1, \"latent_channels\": 4, \"block_out_channels\": [1], \"force_upcast\": true}";
        var read = ConfigFile.ReadText<ExampleVaeConfig>(Text, "mem");

        string written = ConfigFile.ToJsonText(read.Config);

        Assert.Contains("\"scaling_factor\": 1.0\n", written);
        Assert.Contains("\"latent_channels\": 4,\n", written);
        AssertSameJson(Text, written);
    }

    [Fact]
    public void TypedDefaults_WriteEveryDeclaredKeyWithNullsAndNoAbsentMetadata()
    {
        string written = ConfigFile.ToJsonText(new ExampleSchedulerConfig { ClassName = "DDIMScheduler" });

        Assert.Contains("\"trained_betas\": null", written);
        Assert.Contains("\"beta_start\": 0.0001,", written);
        Assert.Contains("\"_class_name\": \"DDIMScheduler\",", written);
        Assert.DoesNotContain("_diffusers_version", written);
        Assert.DoesNotContain("_name_or_path", written);
        Assert.EndsWith("}\n", written);
        Assert.Equal(new ExampleSchedulerConfig().TimestepSpacing,
            ConfigFile.ReadText<ExampleSchedulerConfig>(written, "w").Config.TimestepSpacing);
    }

    [Fact]
    public void Enum_WithExplicitMemberName_RoundTrips()
    {
        var read = ConfigFile.ReadText<ExampleSchedulerConfig>("{\"beta_schedule\": \"squaredcos_cap_v2\", \"prediction_type\": \"v_prediction\"}", "mem");

        Assert.Equal(ExampleBetaSchedule.SquaredCosCapV2, read.Config.BetaSchedule);
        Assert.Equal(ExamplePredictionType.VPrediction, read.Config.PredictionType);
        string written = ConfigFile.ToJsonText(read.Config);
        Assert.Contains("\"beta_schedule\": \"squaredcos_cap_v2\",", written);
        Assert.Contains("\"prediction_type\": \"v_prediction\",", written);
    }

    [Fact]
    public void Write_ReplacesExistingFile()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "config.json");
        File.WriteAllText(path, "old");

        ConfigFile.Write(path, new DiffusersConfig { ClassName = "AutoencoderKL" });

        Assert.Equal("{\n  \"_class_name\": \"AutoencoderKL\"\n}\n", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }
}
