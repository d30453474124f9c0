using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Training.TextEncoder;
using TorchSharp;
using static TorchSharp.torch;
using Latent.TextEncoder;

namespace Latent.Training.Tests.TextEncoder;

public class ClipModelFolderTests
{
    static ClipModel NewModel()
    {
        var model = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny);
        using (no_grad()) model.LogitScale.fill_(Scalars.Of(3.25));
        return model;
    }

    [Fact]
    public void SaveLoad_RoundTrip_SameWeightsAndEmbeddings_AndTextEncoderLoadsAlone()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel();
        string root = TestEnvironment.NewTempDir();
        ClipModelFolder.Save(model, root);
        using var loaded = ClipModelFolder.Load(root);
        ClipTrainerTests.AssertSameTensors(model.state_dict(), loaded.state_dict());

        using var ids = tensor(new long[,] { { 998, 5, 6, 999 } });
        using var generator = new Generator(1);
        using var pixels = TestTensors.UniformPixels([2, 3, 16, 16], generator);
        using (no_grad())
        {
            Assert.True(model.EncodeText(ids).equal(loaded.EncodeText(ids)).all().item<bool>());
            Assert.True(model.EncodeImage(pixels).equal(loaded.EncodeImage(pixels)).all().item<bool>());
        }
        using var text = ClipTextModel.FromPretrained(Path.Combine(root, ClipModelFolder.TextEncoderFolder));
        Assert.Equal(ClipTextConfig.Tiny.HiddenSize, text.Config.HiddenSize);
        Assert.DoesNotContain(SafeKeys(Path.Combine(root, "image_encoder", "model.safetensors")), k => k.StartsWith("text_model.", StringComparison.Ordinal));
    }

    [Fact]
    public void ConvInStride_IsSavedAndRead_AndDefaultsToOneWhenAbsent()
    {
        using var model = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny with { ConvInStride = 2 });
        string root = TestEnvironment.NewTempDir();
        ClipModelFolder.Save(model, root);
        string configPath = Path.Combine(root, "image_encoder", "config.json");
        Assert.Contains("\"conv_in_stride\": 2", File.ReadAllText(configPath));
        using (var loaded = ClipModelFolder.Load(root)) Assert.Equal(2, loaded.ImageConfig.ConvInStride);

        // A file written before the key existed describes the stride-1 tower.
        string older = string.Join("\n", File.ReadAllLines(configPath).Where(l => !l.Contains("conv_in_stride")));
        File.WriteAllText(configPath, older);
        Assert.Equal(1, ConfigFile.Read<ClipImageEncoderConfig>(configPath).Config.ToTower().ConvInStride);
    }

    [Fact]
    public void Load_ProjectionWidthsDiffer_ThrowsNamingBoth()
    {
        using var model = NewModel();
        string root = TestEnvironment.NewTempDir();
        ClipModelFolder.Save(model, root);
        string configPath = Path.Combine(root, "image_encoder", "config.json");
        var config = ConfigFile.Read<ClipImageEncoderConfig>(configPath).Config;
        ConfigFile.Write(configPath, config with { ProjectionDim = 16 });
        var e = Assert.Throws<ConfigException>(() => ClipModelFolder.Load(root));
        Assert.Contains("16", e.Message);
        Assert.Contains("projection_dim = 32", e.Message);
    }

    [Fact]
    public void Load_MissingImageEncoder_Throws()
    {
        using var model = NewModel();
        string root = TestEnvironment.NewTempDir();
        model.CreateTextModel().SavePretrained(Path.Combine(root, ClipModelFolder.TextEncoderFolder));
        var e = Assert.Throws<DirectoryNotFoundException>(() => ClipModelFolder.Load(root));
        Assert.Contains("image_encoder", e.Message);
    }

    static IEnumerable<string> SafeKeys(string path)
    {
        using var file = Latent.Core.IO.SafeTensors.Open(path);
        return file.Tensors.Select(t => t.Name).ToList();
    }
}
