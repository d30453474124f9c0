using System.Text;
using Latent.Core.IO;

namespace Latent.Core.Tests.IO;

public class AtomicFileTests
{
    static readonly byte[] Bytes = Encoding.UTF8.GetBytes("new content");

    [Fact]
    public void Write_ReplacesRegularFile()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "x.png");
        File.WriteAllText(path, "old");
        AtomicFile.WriteAllBytes(path, Bytes);
        Assert.Equal(Bytes, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!)); // no temporary file left
    }

    [Fact]
    public void Write_RefusesFifo()
    {
        string path = SpecialFiles.MakeFifo(Path.Combine(TestEnvironment.NewTempDir(), "x.png"));
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, Bytes));
        Assert.Contains(path, e.Message);
        Assert.Contains("FIFO", e.Message);
        Assert.Equal(FileKindValue.Fifo, FileKind.Of(path));
        Assert.Single(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void Write_RefusesSocket()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "x.png");
        using var socket = SpecialFiles.MakeSocket(path);
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, Bytes));
        Assert.Contains("a socket", e.Message);
        Assert.Equal(FileKindValue.Socket, FileKind.Of(path));
    }

    [Fact]
    public void Write_RefusesDirectory()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "x.png");
        Directory.CreateDirectory(path);
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, Bytes));
        Assert.Contains($"'{path}'", e.Message);
        Assert.Contains("a directory; only a regular file is replaced", e.Message);
    }

    [Fact]
    public void Write_RefusesSymlinkToCharacterDevice()
    {
        // A link to /dev/null stands in for the device itself (no mknod in tests); the link must survive, too.
        string path = Path.Combine(TestEnvironment.NewTempDir(), "x.png");
        File.CreateSymbolicLink(path, "/dev/null");
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(path, Bytes));
        Assert.Contains("a character device", e.Message);
        Assert.Contains("/dev/null", e.Message);
        Assert.Equal(FileKindValue.SymbolicLink, FileKind.Of(path, followLinks: false));
    }

    [Fact]
    public void Write_WritesThroughSymlink()
    {
        string dir = TestEnvironment.NewTempDir();
        string target = Path.Combine(dir, "real", "image.png");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.WriteAllText(target, "old");
        string link = Path.Combine(dir, "link.png");
        File.CreateSymbolicLink(link, target);

        AtomicFile.WriteAllBytes(link, Bytes);

        Assert.Equal(FileKindValue.SymbolicLink, FileKind.Of(link, followLinks: false));
        Assert.Equal(Bytes, File.ReadAllBytes(target));
        Assert.Single(Directory.GetFileSystemEntries(Path.GetDirectoryName(target)!)); // temp went next to the target, and is gone
    }

    [Fact]
    public void Write_LongTargetName_Works()
    {
        // 250 bytes is a legal name; the temporary name must not push past the 255-byte limit.
        string path = Path.Combine(TestEnvironment.NewTempDir(), new string('a', 246) + ".png");
        AtomicFile.WriteAllBytes(path, Bytes);
        Assert.Equal(Bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public void Write_Failure_NamesTargetNotTemporaryFile()
    {
        // A failure at the temporary file or the rename (here a name over the 255-byte limit; a read-only folder as a
        // non-root user fails the same way) must name the file the user asked for, not ".x.png.<pid>.<guid>.tmp".
        string path = Path.Combine(TestEnvironment.NewTempDir(), new string('b', 300) + ".png");
        var e = Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllBytes(path, Bytes));
        Assert.DoesNotContain(".tmp", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!));
    }
}
