using Latent.Core.Config;
using Latent.Vae;

namespace Latent.Vae.Tests;

public class VaeConfigTests
{
    private static ConfigException Invalid(VaeConfig config) => Assert.Throws<ConfigException>(() => config.Validate());

    [Fact]
    public void Presets_AreValidWithTheirDocumentedGeometry()
    {
        VaeConfig.Tiny.Validate();
        VaeConfig.Default.Validate();
        Assert.Equal((2, 8), (VaeConfig.Tiny.DownsampleFactor, VaeConfig.Tiny.LatentSize));
        Assert.Equal((4, 16), (VaeConfig.Default.DownsampleFactor, VaeConfig.Default.LatentSize));
        Assert.Equal(4, VaeConfig.Default.LatentChannels);
    }

    [Fact]
    public void Read_ConformanceConfig_HasEveryKeyAndNoUnknown()
    {
        var read = ConfigFile.Read<VaeConfig>(Path.Combine(TestEnvironment.Parity, "vae", "config.json"), VaeConfig.ClassNameValue);
        Assert.Empty(read.UnknownKeys);
        Assert.Equal([32, 64], read.Config.BlockOutChannels);
        Assert.Equal(0.18215, read.Config.ScalingFactor);
        Assert.True(read.Config.ForceUpcast);
        read.Config.Validate();
    }

    [Fact]
    public void Write_UsesDiffusersKeys()
    {
        string text = ConfigFile.ToJsonText(VaeConfig.Default);
        foreach (string key in new[] { "in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels",
                     "layers_per_block", "act_fn", "latent_channels", "norm_num_groups", "sample_size", "scaling_factor", "force_upcast" })
            Assert.Contains($"\"{key}\"", text);
        Assert.DoesNotContain("downsample_factor", text);
        Assert.DoesNotContain("latent_size", text);
    }

    [Theory]
    [InlineData("in_channels")]
    [InlineData("out_channels")]
    [InlineData("latent_channels")]
    [InlineData("layers_per_block")]
    [InlineData("norm_num_groups")]
    [InlineData("sample_size")]
    public void Validate_ThrowsForNonPositiveCount(string key)
    {
        var config = key switch
        {
            "in_channels" => VaeConfig.Tiny with { InChannels = 0 },
            "out_channels" => VaeConfig.Tiny with { OutChannels = 0 },
            "latent_channels" => VaeConfig.Tiny with { LatentChannels = 0 },
            "layers_per_block" => VaeConfig.Tiny with { LayersPerBlock = 0 },
            "norm_num_groups" => VaeConfig.Tiny with { NormNumGroups = 0 },
            _ => VaeConfig.Tiny with { SampleSize = 0 },
        };
        var e = Invalid(config);
        Assert.Equal(key, e.Key);
        Assert.Contains("0 is not positive", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForEmptyBlockOutChannels()
    {
        var e = Invalid(VaeConfig.Tiny with { BlockOutChannels = [], DownBlockTypes = [], UpBlockTypes = [] });
        Assert.Equal("block_out_channels", e.Key);
    }

    [Fact]
    public void Validate_ThrowsForChannelsNotDivisibleByGroups()
    {
        var e = Invalid(VaeConfig.Tiny with { BlockOutChannels = [8, 18] });
        Assert.Equal("block_out_channels", e.Key);
        Assert.Contains("18", e.Message);
        Assert.Contains("norm_num_groups = 4", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForBlockTypeCountMismatch()
    {
        var e = Invalid(VaeConfig.Tiny with { DownBlockTypes = [VaeConfig.DownEncoderBlockType] });
        Assert.Equal("down_block_types", e.Key);
        Assert.Contains("has 1 entries; expected 2", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForUnsupportedDownBlockType()
    {
        var e = Invalid(VaeConfig.Tiny with { DownBlockTypes = [VaeConfig.DownEncoderBlockType, "AttnDownEncoderBlock2D"] });
        Assert.Equal("down_block_types", e.Key);
        Assert.Contains("AttnDownEncoderBlock2D", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForUnsupportedUpBlockType()
    {
        var e = Invalid(VaeConfig.Tiny with { UpBlockTypes = ["AttnUpDecoderBlock2D", VaeConfig.UpDecoderBlockType] });
        Assert.Equal("up_block_types", e.Key);
        Assert.Contains("AttnUpDecoderBlock2D", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForUnsupportedActivation()
    {
        var e = Invalid(VaeConfig.Tiny with { ActFn = "gelu" });
        Assert.Equal("act_fn", e.Key);
        Assert.Contains("\"gelu\"", e.Message);
    }

    [Fact]
    public void Validate_ThrowsForSampleSizeNotDivisibleByFactor()
    {
        var e = Invalid(VaeConfig.Default with { SampleSize = 66 });
        Assert.Equal("sample_size", e.Key);
        Assert.Contains("66 is not divisible by the downsample factor 4", e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(double.NaN)]
    [InlineData(1e308)]
    [InlineData(1e-9)]
    [InlineData(double.PositiveInfinity)]
    public void Validate_ThrowsForNonPositiveScalingFactor(double value)
    {
        var e = Invalid(VaeConfig.Tiny with { ScalingFactor = value });
        Assert.Equal("scaling_factor", e.Key);
    }

    [Fact]
    public void Constructor_ValidatesConfig()
    {
        Assert.Throws<ConfigException>(() => new AutoencoderKL(VaeConfig.Tiny with { LatentChannels = -1 }));
    }

    [Theory]
    [InlineData("block_out_channels")]
    [InlineData("layers_per_block")]
    [InlineData("latent_channels")]
    public void Validate_RefusesSizesOverTheLimits_BeforeBuilding(string key)
    {
        VaeConfig config = key switch
        {
            "block_out_channels" => VaeConfig.Tiny with { BlockOutChannels = [8, 1 << 20] },
            "layers_per_block" => VaeConfig.Tiny with { LayersPerBlock = 10_000 },
            _ => VaeConfig.Tiny with { LatentChannels = 4096 },
        };
        Assert.Equal(key, Invalid(config).Key);
    }
}
