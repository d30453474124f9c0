using Latent.Core.IO;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.SingleFile;

/// <summary>Our single-file writer against diffusers' own converter (tiny-sd15.safetensors), and the round trip.</summary>
public class SingleFileWriterTests
{
    static string Real => Path.Combine(TestEnvironment.Fixtures, "realformats");
    static string Folder => Path.Combine(Real, "tiny-sd15");
    static string File1 => Path.Combine(Real, "tiny-sd15.safetensors");

    [Fact]
    public void FolderToSingleFile_GivesDiffusersConvertersFile_KeyForKey()
    {
        using var scope = NewDisposeScope();
        TestEnvironment.Init();
        string path = Path.Combine(TestEnvironment.NewTempDir(), "out.safetensors");
        using (var pipe = StableDiffusionPipeline.Load(Folder)) pipe.SaveSingleFile(path);
        var expected = SafeTensors.Load(File1);
        var actual = SafeTensors.Load(path);
        try
        {
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (key, value) in expected)
            {
                Assert.Equal(value.shape, actual[key].shape);
                using var d = value.sub(actual[key]).abs().max();
                Assert.True(d.item<float>() == 0f, key);
            }
        }
        finally
        {
            foreach (var t in expected.Values.Concat(actual.Values)) t.Dispose();
        }
    }

    [Fact]
    public void SingleFileToFolderInFp16_LoadsBackWithinHalfPrecision()
    {
        using var scope = NewDisposeScope();
        TestEnvironment.Init();
        string dir = Path.Combine(TestEnvironment.NewTempDir(), "folder");
        using (var pipe = StableDiffusionPipeline.Load(File1, new PipelineOptions { ConfigDirectory = Folder })) pipe.SavePretrained(dir, ScalarType.Float16);
        using (var file = SafeTensors.Open(Path.Combine(dir, "unet", "diffusion_pytorch_model.safetensors")))
            Assert.All(file.Tensors, t => Assert.Equal(ScalarType.Float16, t.Dtype));
        var request = new GenerationRequest { Prompts = ["a cat"], Steps = 2, Seed = 1, Width = 64, Height = 64 };
        using var original = StableDiffusionPipeline.Load(Folder);
        using var converted = StableDiffusionPipeline.Load(dir);
        using var a = original.Generate(request);
        using var b = converted.Generate(request);
        using var d = a.Images.sub(b.Images).abs().max();
        Assert.True(d.item<float>() < 0.05f, $"max |diff| {d.item<float>()}");
    }
}
