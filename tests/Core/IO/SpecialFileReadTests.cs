using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Core.Tests.Data;

namespace Latent.Core.Tests.IO;

/// <summary>Readers refuse a FIFO (which blocks open(2) forever) and other special files before opening them; each
/// test runs the read under a timeout so today's hang shows as a failure, not a stuck run.</summary>
public class SpecialFileReadTests
{
    static IOException RefusedWithin10s(Action read)
    {
        Exception? e = SpecialFiles.WithTimeout(read);
        return Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public void FileKind_TellsFifoDirectoryFileAndMissing()
    {
        string dir = TestEnvironment.NewTempDir();
        string file = Path.Combine(dir, "f");
        File.WriteAllText(file, "x");
        Assert.Equal(FileKindValue.RegularFile, FileKind.Of(file));
        Assert.Equal(FileKindValue.Directory, FileKind.Of(dir));
        Assert.Equal(FileKindValue.Fifo, FileKind.Of(SpecialFiles.MakeFifo(Path.Combine(dir, "p"))));
        Assert.Equal(FileKindValue.CharacterDevice, FileKind.Of("/dev/null"));
        Assert.Equal(FileKindValue.Missing, FileKind.Of(Path.Combine(dir, "absent")));
        Assert.Equal(FileKindValue.Missing, FileKind.Of(Path.Combine(file, "under-a-file")));
    }

    [Fact]
    public void SafeTensorsOpen_RefusesFifo()
    {
        string path = SpecialFiles.MakeFifo(Path.Combine(TestEnvironment.NewTempDir(), "diffusion_pytorch_model.safetensors"));
        IOException e = RefusedWithin10s(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains("FIFO", e.Message);
    }

    [Fact]
    public void PickleCheckpointLoad_RefusesFifo()
    {
        string path = SpecialFiles.MakeFifo(Path.Combine(TestEnvironment.NewTempDir(), "model.ckpt"));
        IOException e = RefusedWithin10s(() => PickleCheckpoint.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("FIFO", e.Message);
    }

    [Fact]
    public void SafeTensorsOpen_RefusesCharacterDevice()
    {
        IOException e = RefusedWithin10s(() => SafeTensorsFile.Open("/dev/zero").Dispose());
        Assert.Contains("a character device", e.Message);
    }

    [Fact]
    public void ConfigRead_RefusesFifo()
    {
        string path = SpecialFiles.MakeFifo(Path.Combine(TestEnvironment.NewTempDir(), "config.json"));
        IOException e = RefusedWithin10s(() => ConfigFile.Read<ModelIndex>(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void ImageLoad_RefusesFifo()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        string path = SpecialFiles.MakeFifo(Path.Combine(TestEnvironment.NewTempDir(), "photo.png"));
        IOException e = RefusedWithin10s(() => ImageIO.Load(path).Dispose());
        Assert.Contains("image", e.Message);
        Assert.Contains("FIFO", e.Message);
    }

    [Fact]
    public void DatasetRead_RefusesFifoImage_NamingTheLine()
    {
        string dir = ImageFolderFixture.Images(1);
        SpecialFiles.MakeFifo(Path.Combine(dir, "pipe.png"));
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "a"}""", """{"file_name": "pipe.png", "text": "b"}""");
        foreach (ImageCheck check in new[] { ImageCheck.Exists, ImageCheck.Decode })
        {
            Exception? e = SpecialFiles.WithTimeout(() => ImageFolderDataset.Read(dir, new ImageFolderOptions { Check = check }));
            var error = Assert.IsType<InvalidDataException>(e);
            Assert.Contains("line 2", error.Message);
            Assert.Contains("FIFO", error.Message);
        }
    }

    [Fact]
    public void DatasetRead_RefusesFifoMetadata()
    {
        string dir = ImageFolderFixture.Images(1);
        SpecialFiles.MakeFifo(Path.Combine(dir, ImageFolderDataset.MetadataFile));
        IOException e = RefusedWithin10s(() => ImageFolderDataset.Read(dir));
        Assert.Contains("metadata.jsonl", e.Message);
    }
}
