using System.Buffers.Binary;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.Core.Tests.Data;

namespace Latent.Core.Tests.Imaging;

/// <summary>Images that claim more than they hold, or hold more than we read (issue 21 item 7).</summary>
public class HostileImageTests
{
    /// <summary>A 57-byte PNG whose IHDR declares <paramref name="width"/> x <paramref name="height"/> RGB pixels.</summary>
    internal static byte[] DeclaringPng(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // RGB
        byte[] signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
        return [.. signature, .. MiniPng.MakeChunk("IHDR", ihdr), .. MiniPng.MakeChunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]), .. MiniPng.MakeChunk("IEND", [])];
    }

    [Fact]
    public void Load_RefusesADeclaredSizeOverTheCap_BeforeDecoding()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "huge.png");
        File.WriteAllBytes(path, DeclaringPng(65535, 65535));
        var e = Assert.Throws<InvalidDataException>(() => ImageIO.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("65535x65535", e.Message);
        Assert.Throws<InvalidDataException>(() => ImageIO.ReadSize(path));
    }

    [Fact]
    public void ReadBytes_RefusesAFileOverTheByteCap()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "big.png");
        using (var f = new FileStream(path, FileMode.CreateNew)) f.SetLength(ImageIO.MaxFileBytes + 1); // sparse: no disk used
        var e = Assert.Throws<InvalidDataException>(() => ImageIO.ReadBytes(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("at most", e.Message);
    }

    [Fact]
    public void ReadSize_RefusesADevice_AtOnce()
    {
        var e = Assert.Throws<IOException>(() => ImageIO.ReadSize("/dev/zero"));
        Assert.Contains("/dev/zero", e.Message);
    }

    [Fact]
    public void DatasetCheck_ReportsAHugeDeclaredImage_AsABadRecord()
    {
        string dir = ImageFolderFixture.Images(1);
        File.WriteAllBytes(Path.Combine(dir, "huge.png"), DeclaringPng(65535, 65535));
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "good"}""", """{"file_name": "huge.png", "text": "huge"}""");
        var data = ImageFolderDataset.Read(dir, new() { OnBadRecord = BadRecordPolicy.Skip });
        Assert.Contains("65535x65535", Assert.Single(data.Skipped).Reason);
    }
}
