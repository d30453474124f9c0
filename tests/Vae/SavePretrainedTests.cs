using Latent.Core.Config;
using Latent.Core.IO;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Vae.Tests;

public class SavePretrainedTests
{
    private static AutoencoderKL NewTiny(int seed)
    {
        manual_seed(seed);
        var vae = new AutoencoderKL(VaeConfig.Tiny);
        vae.eval();
        return vae;
    }

    [Fact]
    public void SaveThenLoad_Float32_GivesIdenticalOutputs()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        using var vae = NewTiny(1);
        vae.SavePretrained(dir);
        Assert.Equal(new[] { AutoencoderKL.ConfigFileName, AutoencoderKL.WeightsFileName },
            Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var loaded = AutoencoderKL.FromPretrained(dir);
        loaded.eval();
        using var noGrad = no_grad();
        var x = TestTensors.UniformPixels([2, 3, 16, 16], new Generator(2));
        Assert.True(vae.forward(x).equal(loaded.forward(x)).all().item<bool>());
        Assert.Equal(VaeConfig.Tiny.BlockOutChannels, loaded.Config.BlockOutChannels);
        Assert.Equal(VaeConfig.ClassNameValue, loaded.Config.ClassName);
    }

    [Fact]
    public void SaveThenLoad_Float16_WritesHalfTensorsAndLoadsBackClose()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        using var vae = NewTiny(1);
        vae.SavePretrained(dir, ScalarType.Float16);
        using (var file = SafeTensors.Open(Path.Combine(dir, AutoencoderKL.WeightsFileName)))
            Assert.All(file.Tensors, t => Assert.Equal("F16", t.DtypeName));
        using var loaded = AutoencoderKL.FromPretrained(dir);
        loaded.eval();
        using var noGrad = no_grad();
        var x = TestTensors.UniformPixels([2, 3, 16, 16], new Generator(2));
        var a = vae.forward(x);
        var b = loaded.forward(x);
        Assert.Equal(ScalarType.Float32, b.dtype);
        double diff = (a - b).abs().max().item<float>();
        Assert.InRange(diff, 1e-7, 1e-2);
    }

    [Fact]
    public void SavePretrained_ThrowsForUnsupportedDtype()
    {
        using var vae = NewTiny(1);
        var e = Assert.Throws<ArgumentException>(() => vae.SavePretrained(TestEnvironment.NewTempDir(), ScalarType.Int32));
        Assert.Contains("Int32", e.Message);
    }

    [Fact]
    public void FromPretrained_ThrowsForWeightsOfAnotherShape()
    {
        string dir = TestEnvironment.NewTempDir();
        using (var vae = NewTiny(1)) vae.SavePretrained(dir);
        // The same weights under a config with wider blocks: every conv is mis-shaped, and the loader says so.
        var config = ConfigFile.Read<VaeConfig>(Path.Combine(dir, AutoencoderKL.ConfigFileName)).Config with { BlockOutChannels = [16, 16] };
        ConfigFile.Write(Path.Combine(dir, AutoencoderKL.ConfigFileName), config);
        var e = Assert.Throws<StateDictMismatchException>(() => AutoencoderKL.FromPretrained(dir));
        Assert.Contains("encoder.conv_in.weight", e.Message);
    }

    [Fact]
    public void FromPretrained_ThrowsForMissingWeights()
    {
        string dir = TestEnvironment.NewTempDir();
        ConfigFile.Write(Path.Combine(dir, AutoencoderKL.ConfigFileName), VaeConfig.Tiny);
        var e = Assert.Throws<FileNotFoundException>(() => AutoencoderKL.FromPretrained(dir));
        Assert.Contains(AutoencoderKL.WeightsFileName, e.Message);
    }

    [Fact]
    public void FromPretrained_ThrowsForAnotherClass()
    {
        string dir = TestEnvironment.NewTempDir();
        ConfigFile.Write(Path.Combine(dir, AutoencoderKL.ConfigFileName), VaeConfig.Tiny with { ClassName = "UNet2DConditionModel" });
        var e = Assert.Throws<ConfigException>(() => AutoencoderKL.FromPretrained(dir));
        Assert.Contains("UNet2DConditionModel", e.Message);
    }
}
