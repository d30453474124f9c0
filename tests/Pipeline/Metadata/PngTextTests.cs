using Latent.Core.Tests.Imaging;
using Latent.Pipeline.Metadata;
using System.IO.Compression;
using System.Text;
using Latent.Core.Imaging;
using TorchSharp;
using Xunit;

namespace Latent.Pipeline.Tests.Metadata;

public class PngTextTests
{
    static readonly byte[] Png = TestImages.Noise(6, 5, seed: 11);

    [Fact]
    public void Write_Latin1Text_UsesTextChunk()
    {
        byte[] png = PngText.Write(Png, "Comment", "café, naïve ± 1");
        MiniPng.Chunk chunk = Assert.Single(MiniPng.Parse(png), c => c.Type is "tEXt" or "iTXt");
        Assert.Equal("tEXt", chunk.Type);
        Assert.Equal(Encoding.Latin1.GetBytes("Comment\0café, naïve ± 1"), chunk.Data);
        Assert.Equal(new PngTextEntry("Comment", "café, naïve ± 1", PngTextKind.Text), Assert.Single(PngText.Read(png)));
    }

    [Fact]
    public void Write_NonLatin1Text_UsesUncompressedInternationalChunk()
    {
        const string text = "猫 🐱 emoji";
        byte[] png = PngText.Write(Png, "parameters", text);
        MiniPng.Chunk chunk = Assert.Single(MiniPng.Parse(png), c => c.Type is "tEXt" or "iTXt");
        Assert.Equal("iTXt", chunk.Type);
        // keyword NUL, compression flag 0, method 0, empty language NUL, empty translated keyword NUL, UTF-8 text
        Assert.Equal([.. "parameters"u8, 0, 0, 0, 0, 0, .. Encoding.UTF8.GetBytes(text)], chunk.Data);
        Assert.Equal(new PngTextEntry("parameters", text, PngTextKind.InternationalText), Assert.Single(PngText.Read(png)));
    }

    [Fact]
    public void Write_PutsTextRightAfterIhdr_WithValidCrcs_AndKeepsTheImage()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        byte[] png = PngText.Write(Png, [new("a", "1"), new("b", "β ✓")]);
        List<MiniPng.Chunk> chunks = MiniPng.Parse(png);
        Assert.All(chunks, c => Assert.True(c.CrcOk, $"bad CRC in {c.Type}"));
        Assert.Equal(["IHDR", "tEXt", "iTXt"], chunks.Take(3).Select(c => c.Type));
        Assert.Equal(["a", "b"], chunks.Skip(1).Take(2).Select(c => c.Keyword));
        Assert.Equal("IEND", chunks[^1].Type);
        Assert.Equal(MiniPng.Parse(Png).Select(c => c.Type), chunks.Where(c => c.Type is not ("tEXt" or "iTXt")).Select(c => c.Type));
        using var before = ImageIO.Decode(Png);
        using var after = ImageIO.Decode(png);
        Assert.True(before.equal(after).all().item<bool>());
    }

    [Fact]
    public void Write_ReplacesExistingChunkWithSameKeyword_AndKeepsOthers()
    {
        byte[] png = PngText.Write(Png, [new("parameters", "old"), new("Software", "Latent")]);
        png = PngText.Write(png, "parameters", "new ✓");
        Assert.Equal(
            [new PngTextEntry("parameters", "new ✓", PngTextKind.InternationalText), new PngTextEntry("Software", "Latent", PngTextKind.Text)],
            PngText.Read(png));
        Assert.Equal(2, MiniPng.Parse(png).Count(c => c.Type is "tEXt" or "iTXt"));
    }

    [Fact]
    public void Read_DecodesCompressedChunks()
    {
        static byte[] Deflate(byte[] bytes)
        {
            using var output = new MemoryStream();
            using (var z = new ZLibStream(output, CompressionLevel.Optimal))
                z.Write(bytes);
            return output.ToArray();
        }
        byte[] ztxt = MiniPng.MakeChunk("zTXt", [.. "Title"u8, 0, 0, .. Deflate(Encoding.Latin1.GetBytes("déjà vu"))]);
        byte[] itxt = MiniPng.MakeChunk("iTXt", [.. "Author"u8, 0, 1, 0, .. "ja"u8, 0, .. "作者"u8.ToArray(), 0, .. Deflate(Encoding.UTF8.GetBytes("猫"))]);
        byte[] png = MiniPng.InsertBeforeIend(MiniPng.InsertBeforeIend(Png, ztxt), itxt);
        Assert.Equal(
            [new PngTextEntry("Title", "déjà vu", PngTextKind.CompressedText), new PngTextEntry("Author", "猫", PngTextKind.InternationalText)],
            PngText.Read(png));
    }

    [Fact]
    public void Get_ReturnsTextOrNull()
    {
        byte[] png = PngText.Write(Png, "k", "v");
        Assert.Equal("v", PngText.Get(png, "k"));
        Assert.Null(PngText.Get(png, "K"));
    }

    [Fact]
    public void WriteFile_ThenReadFile_RoundTrips()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "x.png");
        File.WriteAllBytes(path, Png);
        PngText.WriteFile(path, "parameters", "猫");
        Assert.Equal("猫", Assert.Single(PngText.ReadFile(path)).Text);
    }

    // ---- validation: one test per rule ----

    [Fact]
    public void Read_ThrowsForBadCrc_NamingTheChunk()
    {
        byte[] png = PngText.Write(Png, "parameters", "hello");
        png[8 + 25 + 8 + 3] ^= 0x01; // a byte inside the tEXt data (signature 8, IHDR 25, tEXt header 8)
        var e = Assert.Throws<InvalidDataException>(() => PngText.Read(png, "corrupt.png"));
        Assert.Contains("corrupt.png", e.Message);
        Assert.Contains("'tEXt'", e.Message);
        Assert.Contains("CRC", e.Message);
    }

    [Fact]
    public void Read_ThrowsForMissingSignature()
    {
        var e = Assert.Throws<InvalidDataException>(() => PngText.Read("GIF89a-not-a-png"u8.ToArray()));
        Assert.Contains("not a PNG", e.Message);
    }

    [Fact]
    public void Read_ThrowsForTruncatedFile()
    {
        var e = Assert.Throws<InvalidDataException>(() => PngText.Read(Png[..(Png.Length - 12)]));
        Assert.Contains("IEND", e.Message);
    }

    [Fact]
    public void Read_ThrowsForChunkLongerThanFile()
    {
        byte[] png = (byte[])Png.Clone();
        png[8] = 0x7F; // IHDR length -> ~2 GB
        var e = Assert.Throws<InvalidDataException>(() => PngText.Read(png));
        Assert.Contains("'IHDR'", e.Message);
    }

    [Fact]
    public void Read_ThrowsForTextChunkWithoutKeyword()
    {
        byte[] png = MiniPng.InsertBeforeIend(Png, MiniPng.MakeChunk("tEXt", "no separator"u8.ToArray()));
        var e = Assert.Throws<InvalidDataException>(() => PngText.Read(png));
        Assert.Contains("'tEXt'", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" lead")]
    [InlineData("trail ")]
    [InlineData("two  spaces")]
    [InlineData("猫")]
    [InlineData("tab\tkey")]
    public void Write_ThrowsForInvalidKeyword(string keyword)
    {
        var e = Assert.Throws<ArgumentException>(() => PngText.Write(Png, keyword, "x"));
        Assert.Contains("keyword", e.Message);
    }

    [Fact]
    public void Write_ThrowsForKeywordLongerThan79() =>
        Assert.Throws<ArgumentException>(() => PngText.Write(Png, new string('k', 80), "x"));

    [Fact]
    public void Write_ThrowsForNulInText() =>
        Assert.Throws<ArgumentException>(() => PngText.Write(Png, "k", "a\0b"));

    [Fact]
    public void Write_ThrowsForRepeatedKeyword() =>
        Assert.Throws<ArgumentException>(() => PngText.Write(Png, [new("k", "1"), new("k", "2")]));

    [Fact]
    public void WriteFile_ThrowsForMissingFile() =>
        Assert.Throws<FileNotFoundException>(() => PngText.WriteFile(Path.Combine(TestEnvironment.NewTempDir(), "no.png"), "k", "v"));
}
