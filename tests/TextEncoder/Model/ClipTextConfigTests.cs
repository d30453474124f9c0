using Latent.Core.Config;
using Latent.TextEncoder;

namespace Latent.TextEncoder.Tests.Model;

public class ClipTextConfigTests
{
    static string FixtureConfig => Path.Combine(TestEnvironment.Parity, "text_encoder", "config.json");

    [Fact]
    public void Read_FixtureConfig_HasTransformersValues()
    {
        var read = ConfigFile.Read<ClipTextConfig>(FixtureConfig, ClipTextConfig.ClassName);
        var c = read.Config;
        Assert.Empty(read.UnknownKeys);
        Assert.Equal((1000, 32, 37, 32, 2, 4, 77), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.ProjectionDim,
            c.NumHiddenLayers, c.NumAttentionHeads, c.MaxPositionEmbeddings));
        Assert.Equal(ClipActivation.QuickGelu, c.HiddenAct);
        Assert.Equal((998, 999, 999), (c.BosTokenId, c.EosTokenId, c.PadTokenId));
        Assert.Equal(1e-5, c.LayerNormEps);
        c.Validate();
    }

    [Fact]
    public void Write_ThenRead_RoundTripsEveryKey()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "config.json");
        var config = ClipTextConfig.Default with { HiddenAct = ClipActivation.Gelu, AttentionDropout = 0.1 };
        ConfigFile.Write(path, config);
        string text = File.ReadAllText(path);
        Assert.Contains("\"hidden_act\": \"gelu\"", text);
        Assert.Contains("\"max_position_embeddings\": 77", text);
        var back = ConfigFile.Read<ClipTextConfig>(path, ClipTextConfig.ClassName);
        Assert.Empty(back.UnknownKeys);
        Assert.Equal(text, ConfigFile.ToJsonText(back.Config));
    }

    [Fact]
    public void Presets_AreValid()
    {
        ClipTextConfig.Tiny.Validate();
        ClipTextConfig.Default.Validate();
        new ClipTextConfig().Validate();
    }

    [Fact]
    public void Read_UnknownActivation_Throws()
    {
        string json = File.ReadAllText(FixtureConfig).Replace("\"quick_gelu\"", "\"relu\"");
        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<ClipTextConfig>(json, "config.json"));
        Assert.Equal("hidden_act", e.Key);
        Assert.Contains("relu", e.Message);
    }

    [Fact]
    public void Read_OtherArchitecture_Throws()
    {
        string json = File.ReadAllText(FixtureConfig).Replace("\"CLIPTextModel\"", "\"CLIPVisionModel\"");
        var e = Assert.Throws<ConfigException>(() => ConfigFile.ReadText<ClipTextConfig>(json, "config.json", ClipTextConfig.ClassName));
        Assert.Equal("architectures", e.Key);
    }

    public static TheoryData<string, string, string> InvalidConfigs => new()
    {
        { "vocab_size", "0", "vocab_size" },
        { "hidden_size", "-1", "hidden_size" },
        { "intermediate_size", "0", "intermediate_size" },
        { "projection_dim", "0", "projection_dim" },
        { "num_hidden_layers", "0", "num_hidden_layers" },
        { "num_attention_heads", "0", "num_attention_heads" },
        { "max_position_embeddings", "0", "max_position_embeddings" },
        { "hidden_size", "30", "hidden_size" },           // not divisible by 4 heads
        { "layer_norm_eps", "0.0", "layer_norm_eps" },
        { "attention_dropout", "1.0", "attention_dropout" },
        { "initializer_range", "-0.02", "initializer_range" },
        { "initializer_factor", "0.0", "initializer_factor" },
        { "eos_token_id", "1000", "eos_token_id" },       // vocab is 1000
        { "bos_token_id", "99999", "bos_token_id" },
        { "pad_token_id", "-1", "pad_token_id" },
        { "hidden_size", "1048576", "hidden_size" },      // over ConfigLimits.MaxWidth
        { "num_hidden_layers", "100000", "num_hidden_layers" },
        { "vocab_size", "2000000000", "vocab_size" },
        { "intermediate_size", "1000000", "intermediate_size" },
        { "max_position_embeddings", "100000", "max_position_embeddings" },
    };

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void Validate_OutOfRange_ThrowsNamingKeyAndValue(string key, string value, string expectedKey)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(FixtureConfig))!.AsObject();
        node[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
        var config = ConfigFile.ReadText<ClipTextConfig>(node.ToJsonString(), "bad.json").Config;
        var e = Assert.Throws<ConfigException>(() => config.Validate("bad.json"));
        Assert.Equal(expectedKey, e.Key);
        Assert.Contains(value.TrimStart('-').Split('.')[0], e.Message);
        Assert.Contains("bad.json", e.Message);
        Assert.Throws<ConfigException>(() => new ClipTextModel(config));
    }
}
