using Latent.TextEncoder.Tokenization;

namespace Latent.TextEncoder.Tests.Tokenization;

/// <summary>A garbled merges.txt is refused naming the file and the line (issue 21 item 8).</summary>
public class MergesFileTests
{
    /// <summary>A copy of the parity tokenizer whose merges.txt <paramref name="edit"/> changed; returns the folder.</summary>
    static string EditedTokenizer(Func<List<string>, List<string>> edit)
    {
        string dir = TestEnvironment.NewTempDir();
        foreach (string file in Directory.GetFiles(Path.Combine(TestEnvironment.Parity, "tokenizer")))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        string merges = Path.Combine(dir, ClipVocabularyFiles.MergesFile);
        File.WriteAllLines(merges, edit(File.ReadAllLines(merges).ToList()));
        return dir;
    }

    [Fact]
    public void RepeatedMerge_IsRefused_NamingBothLines()
    {
        string dir = EditedTokenizer(lines => [.. lines, lines[4]]);
        var e = Assert.Throws<FormatException>(() => ClipTokenizer.FromPretrained(dir));
        Assert.Contains(Path.Combine(dir, "merges.txt"), e.Message);
        Assert.Contains("repeats line 5", e.Message);
        Assert.DoesNotContain("same key", e.Message);
    }

    [Fact]
    public void MergeOfUnknownSymbols_IsRefused_NamingTheLine()
    {
        string dir = EditedTokenizer(lines => { lines[3] = "qqqq zzzz"; return lines; });
        var e = Assert.Throws<FormatException>(() => ClipTokenizer.FromPretrained(dir));
        Assert.Contains("merges.txt, line 4", e.Message);
        Assert.Contains("'qqqq'", e.Message);
    }

    [Fact]
    public void InMemoryDuplicate_IsAnArgumentException_NotTheDictionarysMessage()
    {
        var e = Assert.Throws<ArgumentException>(() => HandMadeVocabulary.Create([("l", "o"), ("l", "o")]));
        Assert.Contains("'l o' appears twice", e.Message);
    }
}
