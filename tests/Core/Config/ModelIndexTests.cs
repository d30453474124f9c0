using Latent.Core.Config;

namespace Latent.Core.Tests.Config;

public class ModelIndexTests
{
    static string ParityIndex => Path.Combine(TestEnvironment.Parity, "model_index.json");

    [Fact]
    public void ParityModelIndex_ReadsComponents()
    {
        var read = ConfigFile.Read<ModelIndex>(ParityIndex, expectedClassName: "StableDiffusionPipeline");
        ModelIndex index = read.Config;

        Assert.Empty(read.UnknownKeys);
        Assert.Equal("StableDiffusionPipeline", index.ClassName);
        Assert.Equal("0.21.4", index.DiffusersVersion);
        Assert.False(index.RequiresSafetyChecker);
        Assert.Equal(["feature_extractor", "safety_checker", "scheduler", "text_encoder", "tokenizer", "unet", "vae"],
            index.Components.Select(c => c.Name));
        Assert.Equal(new PipelineComponent("vae", "diffusers", "AutoencoderKL"), index.Find("vae"));
        Assert.Equal(new PipelineComponent("text_encoder", "transformers", "CLIPTextModel"), index.Find("text_encoder"));
        Assert.Equal(new PipelineComponent("safety_checker", null, null), index.Find("safety_checker"));
        Assert.Null(index.Find("controlnet"));
    }

    [Fact]
    public void ParityModelIndex_RoundTripsByteForByte()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "model_index.json");

        ConfigFile.Write(path, ConfigFile.Read<ModelIndex>(ParityIndex).Config);

        Assert.Equal(File.ReadAllText(ParityIndex), File.ReadAllText(path));
    }

    [Fact]
    public void NewModelIndex_WritesSortedComponents()
    {
        var index = new ModelIndex
        {
            ClassName = "StableDiffusionPipeline",
            DiffusersVersion = "0.21.4",
            Components = [new("vae", "diffusers", "AutoencoderKL"), new("safety_checker", null, null)],
        };

        Assert.Equal(
            "{\n  \"_class_name\": \"StableDiffusionPipeline\",\n  \"_diffusers_version\": \"0.21.4\",\n"
            + "  \"safety_checker\": [\n    null,\n    null\n  ],\n  \"vae\": [\n    \"diffusers\",\n    \"AutoencoderKL\"\n  ]\n}\n",
            ConfigFile.ToJsonText(index));
    }

    [Fact]
    public void UnknownNonComponentKeys_AreReportedAndKept()
    {
        const string Text = "{\"_class_name\": \"P\", \"unet\": [\"diffusers\", \"UNet2DConditionModel\"], \"force_zeros\": [1, 2, 3], \"image_encoder\": [null, null]}";

        var read = ConfigFile.ReadText<ModelIndex>(Text, "model_index.json");

        Assert.Equal(["force_zeros"], read.UnknownKeys);
        Assert.Equal(["unet", "image_encoder"], read.Config.Components.Select(c => c.Name));
        Assert.Contains("  \"force_zeros\": [\n    1,\n    2,\n    3\n  ],\n", ConfigFile.ToJsonText(read.Config));
    }

    [Fact]
    public void ClassNameMismatch_Throws()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigFile.Read<ModelIndex>(ParityIndex, "StableDiffusionXLPipeline"));

        Assert.Contains("the file describes StableDiffusionPipeline, but StableDiffusionXLPipeline was expected", e.Message);
    }

    [Fact]
    public void ComponentClashingWithKey_ThrowsOnWrite()
    {
        var read = ConfigFile.ReadText<ModelIndex>("{\"extra\": 5}", "m");
        var index = read.Config with { Components = [new("extra", "diffusers", "X")] };

        Assert.Throws<ArgumentException>(() => ConfigFile.ToJsonText(index));
    }
}
