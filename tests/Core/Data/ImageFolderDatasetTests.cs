using Latent.Core.Data;

namespace Latent.Core.Tests.Data;

public class ImageFolderDatasetTests
{
    [Fact]
    public void Read_TakesCaptionStringsAndLists_AndKeepsOtherFields()
    {
        string dir = ImageFolderFixture.Images(2);
        ImageFolderFixture.Metadata(dir,
            """{"file_name": "img0.png", "text": "a cat face"}""",
            "",
            """{"file_name": "img1.png", "text": ["thumbs up", "+1"], "split": "validation", "source": "noto"}""");
        var data = ImageFolderDataset.Read(dir);
        Assert.Equal(2, data.Count);
        Assert.Equal(["a cat face"], data.Records[0].Captions);
        Assert.Equal("train", data.Records[0].Split);
        Assert.Equal(1, data.Records[0].Line);
        Assert.Equal(["thumbs up", "+1"], data.Records[1].Captions);
        Assert.Equal("validation", data.Records[1].Split);
        Assert.Equal(3, data.Records[1].Line);
        Assert.Equal("noto", data.Records[1].Fields["source"].GetString());
        Assert.Equal(Path.Combine(dir, "img1.png"), data.Records[1].FullPath);
        Assert.Empty(data.Skipped);
    }

    [Fact]
    public void Read_NulInFileName_NamesFileAndLine()
    {
        string dir = ImageFolderFixture.Images(1);
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "a"}""", """{"file_name": "img\u00000.png", "text": "b"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("metadata.jsonl line 2", e.Message);
        Assert.Contains(@"file_name 'img\00.png' contains a NUL character", e.Message);
    }

    [Fact]
    public void Read_RefusesASymlinkedImageOutsideTheFolder()
    {
        string outside = ImageFolderFixture.Images(1);
        string dir = ImageFolderFixture.Images(1);
        File.CreateSymbolicLink(Path.Combine(dir, "evil.png"), Path.Combine(outside, "img0.png"));
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "a"}""", """{"file_name": "evil.png", "text": "b"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("metadata.jsonl line 2", e.Message);
        Assert.Contains($"leads through a symlink to '{Path.Combine(outside, "img0.png")}', outside the folder", e.Message);
    }

    [Fact]
    public void Read_RefusesAnImageUnderASymlinkedFolderOutside()
    {
        string outside = ImageFolderFixture.Images(1);
        string dir = ImageFolderFixture.Images(1);
        Directory.CreateSymbolicLink(Path.Combine(dir, "sub"), outside);
        ImageFolderFixture.Metadata(dir, """{"file_name": "sub/img0.png", "text": "b"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("outside the folder", e.Message);
    }

    [Fact]
    public void Read_AcceptsASymlinkInsideTheFolder()
    {
        string dir = ImageFolderFixture.Images(1);
        Directory.CreateDirectory(Path.Combine(dir, "real"));
        File.Move(Path.Combine(dir, "img0.png"), Path.Combine(dir, "real", "img0.png"));
        File.CreateSymbolicLink(Path.Combine(dir, "alias.png"), Path.Combine("real", "img0.png"));
        ImageFolderFixture.Metadata(dir, """{"file_name": "alias.png", "text": "a"}""");
        Assert.Equal(1, ImageFolderDataset.Read(dir).Count);
    }

    [Fact]
    public void Read_KeepsOnlyTheRequestedSplit()
    {
        string dir = ImageFolderFixture.Images(3);
        ImageFolderFixture.Metadata(dir,
            """{"file_name": "img0.png", "text": "a", "split": "train"}""",
            """{"file_name": "img1.png", "text": "b", "split": "validation"}""",
            """{"file_name": "img2.png", "text": "c"}""");
        Assert.Equal(["img1.png"], ImageFolderDataset.Read(dir, new() { Split = "validation" }).Records.Select(r => r.FileName));
        Assert.Equal(["img0.png", "img2.png"], ImageFolderDataset.Read(dir, new() { Split = "train" }).Records.Select(r => r.FileName));
    }

    [Fact]
    public void Read_ThrowsForInvalidJson_NamingFileAndLine()
    {
        string dir = ImageFolderFixture.Images(1);
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "ok"}""", """{"file_name": "img0.png", "text": """);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("metadata.jsonl line 2", e.Message);
        Assert.Contains("invalid JSON", e.Message);
    }

    [Fact]
    public void Read_ThrowsForALineWithoutText()
    {
        string dir = ImageFolderFixture.Images(1);
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "caption": "wrong key"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("line 1", e.Message);
        Assert.Contains("\"text\"", e.Message);
    }

    [Fact]
    public void Read_ThrowsForAMissingImage_NamingFileAndLine()
    {
        string dir = ImageFolderFixture.Images(1);
        ImageFolderFixture.Metadata(dir, """{"file_name": "img0.png", "text": "ok"}""", """{"file_name": "gone.png", "text": "lost"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("gone.png", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Read_ThrowsForACorruptImage_NamingFileAndLine()
    {
        string dir = ImageFolderFixture.Images(1);
        File.WriteAllBytes(Path.Combine(dir, "bad.png"), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        ImageFolderFixture.Metadata(dir, """{"file_name": "bad.png", "text": "broken"}""", """{"file_name": "img0.png", "text": "ok"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("line 1", e.Message);
        Assert.Contains("bad.png", e.Message);
    }

    [Fact]
    public void Read_ThrowsForATruncatedPng()
    {
        string dir = ImageFolderFixture.Images(1);
        byte[] png = File.ReadAllBytes(Path.Combine(dir, "img0.png"));
        File.WriteAllBytes(Path.Combine(dir, "cut.png"), png[..(png.Length / 2)]);
        ImageFolderFixture.Metadata(dir, """{"file_name": "cut.png", "text": "half"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("cut.png", e.Message);
    }

    [Fact]
    public void Read_SkipBad_CountsAndReportsEveryBadLine()
    {
        string dir = ImageFolderFixture.Images(2);
        File.WriteAllBytes(Path.Combine(dir, "bad.png"), [0x89, 0x50, 0x4E, 0x47, 0, 0, 0]);
        ImageFolderFixture.Metadata(dir,
            """{"file_name": "img0.png", "text": "good"}""",
            "not json",
            """{"file_name": "gone.png", "text": "lost"}""",
            """{"file_name": "bad.png", "text": "broken"}""",
            """{"file_name": "img1.png", "text": ["good", "too"]}""");
        var data = ImageFolderDataset.Read(dir, new() { OnBadRecord = BadRecordPolicy.Skip });
        Assert.Equal(["img0.png", "img1.png"], data.Records.Select(r => r.FileName));
        Assert.Equal([2, 3, 4], data.Skipped.Select(s => s.Line));
        Assert.Equal([null, "gone.png", "bad.png"], data.Skipped.Select(s => s.FileName));
    }

    [Fact]
    public void Read_ThrowsWhenEveryLineIsBad_EvenWhenSkipping()
    {
        string dir = ImageFolderFixture.Images(1);
        ImageFolderFixture.Metadata(dir, """{"file_name": "gone.png", "text": "lost"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir, new() { OnBadRecord = BadRecordPolicy.Skip }));
        Assert.Contains("no usable records", e.Message);
    }

    [Fact]
    public void Read_RejectsAFileNameOutsideTheFolder()
    {
        string dir = ImageFolderFixture.Images(1);
        ImageFolderFixture.Metadata(dir, """{"file_name": "../img0.png", "text": "escape"}""");
        var e = Assert.Throws<InvalidDataException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("inside the folder", e.Message);
    }

    [Fact]
    public void Read_ThrowsWithoutMetadata()
    {
        string dir = ImageFolderFixture.Images(1);
        var e = Assert.Throws<FileNotFoundException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains("metadata.jsonl", e.Message);
    }

    [Fact]
    public void Read_ThrowsForAMissingFolder()
    {
        string dir = Path.Combine(TestEnvironment.NewTempDir(), "nope");
        var e = Assert.Throws<DirectoryNotFoundException>(() => ImageFolderDataset.Read(dir));
        Assert.Contains(dir, e.Message);
    }
}
