using Latent.Core.Config;
using Latent.UNetCrossAttn;

namespace Latent.UNetCrossAttn.Tests;

public class UNetConfigTests
{
    private static UNetConfig Read(string json) => ConfigFile.ReadText<UNetConfig>(json, "test.json").Config;

    private static ConfigException ValidationError(UNetConfig config) => Assert.Throws<ConfigException>(() => config.Validate("test.json"));

    [Fact]
    public void Read_ParityConfig_HasNoUnknownKeysAndEightHeads()
    {
        var read = ConfigFile.Read<UNetConfig>(Path.Combine(TestEnvironment.Parity, "unet", "config.json"), UNetConfig.ClassNameValue);
        Assert.Empty(read.UnknownKeys);
        Assert.Equal(new[] { 32, 64 }, read.Config.BlockOutChannels);
        Assert.Equal(new[] { 8, 8 }, read.Config.HeadsPerBlock);
        Assert.Equal(128, read.Config.TimeEmbedDim);
        read.Config.Validate();
    }

    [Fact]
    public void AttentionHeadDim_IntIsTheHeadCountOfEveryLevel()
    {
        var config = Read("""{"block_out_channels": [32, 64, 64], "attention_head_dim": 4, "num_attention_heads": null}""");
        Assert.False(config.AttentionHeadDim!.IsList);
        Assert.Equal(new[] { 4, 4, 4 }, config.HeadsPerBlock);
    }

    [Fact]
    public void AttentionHeadDim_ListGivesHeadsPerLevel()
    {
        var config = Read("""{"block_out_channels": [32, 64, 64], "attention_head_dim": [2, 4, 8]}""");
        Assert.True(config.AttentionHeadDim!.IsList);
        Assert.Equal(new[] { 2, 4, 8 }, config.HeadsPerBlock);
    }

    [Fact]
    public void NumAttentionHeads_WinsOverAttentionHeadDim()
    {
        var config = Read("""{"block_out_channels": [32, 64], "attention_head_dim": 8, "num_attention_heads": [1, 2]}""");
        Assert.Equal(new[] { 1, 2 }, config.HeadsPerBlock);
    }

    [Fact]
    public void Write_KeepsIntOrListFormAsRead()
    {
        var config = Read("""{"attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 768, "layers_per_block": 2}""");
        string text = ConfigFile.ToJsonText(config);
        Assert.Contains("\"attention_head_dim\": [\n    5,\n    10,\n    20,\n    20\n  ]", text);
        Assert.Contains("\"cross_attention_dim\": 768,", text);
        Assert.Equal(config.AttentionHeadDim, Read(text).AttentionHeadDim);
    }

    [Fact]
    public void Read_ThrowsForAttentionHeadDimOfWrongType()
    {
        var e = Assert.Throws<ConfigException>(() => Read("""{"attention_head_dim": "eight"}"""));
        Assert.Equal("attention_head_dim", e.Key);
    }

    [Fact]
    public void Presets_AreValid()
    {
        UNetConfig.Tiny.Validate();
        UNetConfig.Default.Validate();
        new UNetConfig().Validate(); // diffusers' defaults: SD 1.x's layout
    }

    [Theory]
    [InlineData("class_embed_type", """{"class_embed_type": "timestep"}""")]
    [InlineData("addition_embed_type", """{"addition_embed_type": "text_time"}""")]
    [InlineData("time_cond_proj_dim", """{"time_cond_proj_dim": 256}""")]
    [InlineData("num_class_embeds", """{"num_class_embeds": 10}""")]
    [InlineData("encoder_hid_dim", """{"encoder_hid_dim": 512}""")]
    [InlineData("resnet_time_scale_shift", """{"resnet_time_scale_shift": "scale_shift"}""")]
    [InlineData("time_embedding_type", """{"time_embedding_type": "fourier"}""")]
    [InlineData("dual_cross_attention", """{"dual_cross_attention": true}""")]
    [InlineData("act_fn", """{"act_fn": "gelu"}""")]
    [InlineData("dropout", """{"dropout": 0.1}""")]
    [InlineData("mid_block_type", """{"mid_block_type": "UNetMidBlock2DSimpleCrossAttn"}""")]
    public void Validate_ThrowsForUnsupportedOption(string key, string json)
    {
        var e = ValidationError(Read(json));
        Assert.Equal(key, e.Key);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForUnsupportedBlockType()
    {
        var e = ValidationError(UNetConfig.Tiny with { DownBlockTypes = ["DownBlock2D", "SimpleCrossAttnDownBlock2D"] });
        Assert.Equal("down_block_types", e.Key);
        Assert.Contains("\"SimpleCrossAttnDownBlock2D\"", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForBlockTypeCountOtherThanLevels()
    {
        var e = ValidationError(UNetConfig.Tiny with { UpBlockTypes = ["UpBlock2D"] });
        Assert.Equal("up_block_types", e.Key);
        Assert.Contains("1 entries", e.Message);
        Assert.Contains("(2)", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForHeadListOfWrongLength()
    {
        var e = ValidationError(UNetConfig.Tiny with { AttentionHeadDim = new[] { 2, 2, 2 } });
        Assert.Equal("attention_head_dim", e.Key);
        Assert.Contains("3 entries", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForHeadsNotDividingChannels()
    {
        var e = ValidationError(UNetConfig.Tiny with { AttentionHeadDim = 5 });
        Assert.Equal("attention_head_dim", e.Key);
        Assert.Contains("5 heads for 32 channels", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForChannelsNotDivisibleByGroups()
    {
        var e = ValidationError(UNetConfig.Tiny with { BlockOutChannels = [32, 60] });
        Assert.Equal("block_out_channels", e.Key);
        Assert.Contains("60", e.Message);
    }

    [Theory]
    [InlineData("""{"block_out_channels": [1048576, 1048576], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "attention_head_dim": 8}""", "block_out_channels")]
    [InlineData("""{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "attention_head_dim": 8, "layers_per_block": 10000}""", "layers_per_block")]
    [InlineData("""{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "attention_head_dim": 8, "transformer_layers_per_block": 5000}""", "transformer_layers_per_block")]
    [InlineData("""{"block_out_channels": [32, 64], "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "attention_head_dim": 8, "cross_attention_dim": 1048576}""", "cross_attention_dim")]
    public void Validate_RefusesSizesOverTheLimits_NamingTheKey(string json, string key)
    {
        Assert.Equal(key, ValidationError(Read(json)).Key);
    }
}
