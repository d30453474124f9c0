using Latent.Judge.Evaluation;

namespace Latent.Judge.Tests.Evaluation;

public class JudgePromptListTests
{
    const string Header = "prompt\tcodes\tpart";

    static string Write(params string[] lines)
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "prompts.tsv");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Read_ParsesPromptsCodesAndParts()
    {
        string path = Write("# comment", "", Header + "\tnames", "a cat\t1F431 1F408 1F44D-1F3FD\ttune\tcat face; cat", "a red heart\t2764-FE0F\theldout");
        var prompts = JudgePromptList.Read(path);
        Assert.Equal(2, prompts.Count);
        Assert.Equal(["1F431", "1F408", "1F44D"], prompts[0].Codes);
        Assert.Equal("a cat", prompts[0].Text);
        Assert.Equal(PromptPart.Tune, prompts[0].Part);
        Assert.Equal(["2764"], prompts[1].Codes);
        Assert.Equal(PromptPart.HeldOut, prompts[1].Part);
        Assert.Equal(5, prompts[1].Line);
    }

    [Theory]
    [InlineData("a cat\t1F431", "line 2: expected 3 or 4 tab-separated columns")]
    [InlineData("a cat\t1F431\tmaybe", "line 2: prompt 'a cat' has part 'maybe'; expected 'tune' or 'heldout'")]
    [InlineData("a cat\t1F43Z\ttune", "line 2: prompt 'a cat': emoji code '1F43Z'")]
    [InlineData("a cat\t \ttune", "line 2: prompt 'a cat' has no emoji codes")]
    [InlineData(" \t1F431\ttune", "line 2: the prompt is empty")]
    public void Read_BadLine_NamesFileAndLine(string line, string expected)
    {
        string path = Write(Header, line);
        var e = Assert.Throws<InvalidDataException>(() => JudgePromptList.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Read_RepeatedPrompt_NamesBothLines()
    {
        string path = Write(Header, "a cat\t1F431\ttune", "A Cat\t1F408\theldout");
        var e = Assert.Throws<InvalidDataException>(() => JudgePromptList.Read(path));
        Assert.Contains("line 3: prompt 'A Cat' repeats line 2", e.Message);
    }

    [Fact]
    public void Read_MissingHeader_Throws()
    {
        string path = Write("a cat\t1F431\ttune");
        var e = Assert.Throws<InvalidDataException>(() => JudgePromptList.Read(path));
        Assert.Contains("line 1: expected the header", e.Message);
    }

    [Fact]
    public void Read_NoPrompt_Throws()
    {
        string path = Write("# nothing", Header);
        var e = Assert.Throws<InvalidDataException>(() => JudgePromptList.Read(path));
        Assert.Contains("holds no prompt", e.Message);
    }

    [Fact]
    public void Read_MissingFile_Throws() =>
        Assert.Throws<FileNotFoundException>(() => JudgePromptList.Read(Path.Combine(TestEnvironment.NewTempDir(), "none.tsv")));

    [Fact]
    public void Resolve_MapsCodesToClassIds_AndNamesUnknownCodes()
    {
        var prompts = JudgePromptList.Parse([Header, "a cat\t1F431 1F408\ttune", "a dog\t1F436\ttune"], "list.tsv");
        var classes = new List<JudgeClass> { new("1F408", "cat"), new("1F431", "cat face"), new("1F436", "dog face") };
        var ids = JudgePromptList.Resolve(prompts, classes, "list.tsv");
        Assert.Equal([0, 1], ids[0].Order());
        Assert.Equal([2], ids[1]);
        var e = Assert.Throws<InvalidDataException>(() => JudgePromptList.Resolve(prompts, classes.Take(2).ToList(), "list.tsv"));
        Assert.Contains("list.tsv line 3: prompt 'a dog' names emoji 1F436", e.Message);
    }

    [Fact]
    public void ShippedList_HasAtLeast120PromptsAndAThirdHeldOut()
    {
        var prompts = JudgePromptList.Read(Path.Combine(AppContext.BaseDirectory, "docs", "judge-prompts.tsv"));
        Assert.True(prompts.Count >= 120, $"{prompts.Count} prompts");
        int held = prompts.Count(p => p.Part == PromptPart.HeldOut);
        Assert.InRange(held, prompts.Count / 4, prompts.Count / 2);
    }
}

public class ShippedJudgeTests
{
    public ShippedJudgeTests() => TestEnvironment.Init();

    [Fact]
    public void ShippedJudge_LoadsStrictly_AndKnowsEveryPromptsEmoji()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "weights", "judge-64");
        var (judge, classes) = JudgeFolder.Load(dir);
        using (judge)
        {
            Assert.Equal(judge.Config.NumClasses, classes.Count);
            var prompts = JudgePromptList.Read(Path.Combine(AppContext.BaseDirectory, "docs", "judge-prompts.tsv"));
            var ids = JudgePromptList.Resolve(prompts, classes, "judge-prompts.tsv");
            Assert.Equal(prompts.Count, ids.Count);
            Assert.Contains(classes, c => c.Code == "1F431" && c.Name == "cat face");
        }
    }
}
