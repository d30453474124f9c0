using Latent.Core.Imaging;
using Latent.TextEncoder.Tokenization;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

public class TrainTokenizerCommandTests
{
    static string DataFolder()
    {
        string dir = TestEnvironment.NewTempDir();
        using var image = zeros(3, 8, 8);
        string[] captions = ["cat face", "grinning face with big eyes", "thumbs up: medium skin tone", "red apple", "rocket"];
        var lines = new List<string>();
        for (int i = 0; i < captions.Length; i++)
        {
            ImageIO.SavePng(image, Path.Combine(dir, $"{i}.png"));
            lines.Add($$"""{"file_name": "{{i}}.png", "text": ["{{captions[i]}}", "an emoji of {{captions[i]}}"]}""");
        }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return dir;
    }

    [Fact]
    public void TrainTokenizer_WritesATokenizerThatLoadsAndRoundTripsCaptions()
    {
        string data = DataFolder();
        string outDir = Path.Combine(TestEnvironment.NewTempDir(), "tokenizer");
        var r = LatentProcess.Run("train", "tokenizer", "--data", data, "--out", outDir, "--vocab-size", "600");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("from 10 captions of 5 images", r.Stdout);

        var tokenizer = ClipTokenizer.FromPretrained(outDir);
        // Five captions hold fewer frequent pairs than 600 - 514 merges: the trainer stops early and says so.
        Assert.InRange(tokenizer.VocabSize, 515, 599);
        Assert.Contains($"give the text encoder vocab_size {tokenizer.VocabSize}", r.Stdout);
        int[] ids = tokenizer.Encode("an emoji of cat face");
        Assert.Equal(tokenizer.BosId, ids[0]);
        Assert.Equal(tokenizer.EosId, ids[^1]);
        Assert.Equal("an emoji of cat face", tokenizer.Decode(ids));
    }

    [Fact]
    public void TrainTokenizer_MissingDataFolderGivesOneLineAndNonZeroExit()
    {
        string missing = Path.Combine(TestEnvironment.NewTempDir(), "nowhere");
        var r = LatentProcess.Run("train", "tokenizer", "--data", missing, "--out", TestEnvironment.NewTempDir());
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("nowhere", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void TrainTokenizer_RejectsAVocabularyTooSmallForTheByteAlphabet()
    {
        var r = LatentProcess.Run("train", "tokenizer", "--data", DataFolder(), "--out", TestEnvironment.NewTempDir(), "--vocab-size", "100");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--vocab-size must be in [514, 49408]; got 100", r.Stderr);
    }

    [Fact]
    public void TrainTokenizer_SkipBadCountsAndListsBadLinesInsteadOfFailing()
    {
        string data = DataFolder();
        File.AppendAllText(Path.Combine(data, "metadata.jsonl"), "{not json\n" + """{"file_name": "missing.png", "text": "ghost"}""" + "\n");

        var failing = LatentProcess.Run("train", "tokenizer", "--data", data, "--out", TestEnvironment.NewTempDir(), "--vocab-size", "600");
        Assert.Equal(2, failing.ExitCode);
        Assert.Contains("line 6", failing.Stderr);

        var skipping = LatentProcess.Run("train", "tokenizer", "--data", data, "--out", TestEnvironment.NewTempDir(), "--vocab-size", "600", "--skip-bad");
        Assert.True(skipping.ExitCode == 0, skipping.Stderr);
        Assert.Contains("2 bad lines skipped", skipping.Stdout);
        Assert.Contains("skipped line 6:", skipping.Stdout);
        Assert.Contains("skipped line 7:", skipping.Stdout);
        Assert.Contains("from 10 captions of 5 images", skipping.Stdout);
    }
}
