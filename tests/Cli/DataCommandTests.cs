using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent data ...</c> in-process with stdout and stderr captured.</summary>
[Collection(InProcessCli.Collection)]
public class DataCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    /// <summary>A folder with two good images and the given metadata lines.</summary>
    static string Folder(params string[] lines)
    {
        string dir = TestEnvironment.NewTempDir();
        using var image = zeros(3, 8, 8);
        ImageIO.SavePng(image, Path.Combine(dir, "a.png"));
        ImageIO.SavePng(image, Path.Combine(dir, "b.png"));
        File.WriteAllText(Path.Combine(dir, "metadata.jsonl"), string.Join("\n", lines));
        return dir;
    }

    [Fact]
    public void Emoji_RequiresOut()
    {
        var r = Run("data", "emoji");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--out", r.Err);
    }

    [Fact]
    public void Emoji_RejectsMoreThanTwoJobs_WithTheValue()
    {
        var r = Run("data", "emoji", "--out", TestEnvironment.NewTempDir(), "--jobs", "3");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--jobs must be 1 or 2; got 3", r.Err);
    }

    [Fact]
    public void Emoji_RejectsAValidationFractionOfOne_WithTheValue()
    {
        var r = Run("data", "emoji", "--out", TestEnvironment.NewTempDir(), "--validation-fraction", "1");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--validation-fraction must be in [0, 1); got 1", r.Err);
    }

    [Fact]
    public void Emoji_RejectsAnUnknownExtraSet_NamingItAndTheAllowedOnes()
    {
        string dir = Path.Combine(TestEnvironment.NewTempDir(), "out");
        var r = Run("data", "emoji", "--out", dir, "--extra-sets", "fluent-emoji-flat,apple");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--extra-sets: unknown set 'apple'; allowed: fluent-emoji-flat", r.Err);
        Assert.False(Directory.Exists(dir)); // refused before anything is fetched or written
    }

    [Fact]
    public void Check_ReportsImagesCaptionsAndSplits()
    {
        string dir = Folder("""{"file_name": "a.png", "text": ["one", "two"]}""", """{"file_name": "b.png", "text": "three", "split": "validation"}""");
        var r = Run("data", "check", dir);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("2 images, 3 captions (train 1, validation 1), 0 bad lines skipped", r.Out);
    }

    [Fact]
    public void Check_FailsOnABadLine_NamingTheLine()
    {
        string dir = Folder("""{"file_name": "a.png", "text": "one"}""", """{"file_name": "gone.png", "text": "two"}""");
        var r = Run("data", "check", dir);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("metadata.jsonl line 2", r.Err);
        Assert.Contains("gone.png", r.Err);
    }

    [Fact]
    public void Check_SkipBad_CountsAndListsBadLines()
    {
        string dir = Folder("""{"file_name": "a.png", "text": "one"}""", "{broken", """{"file_name": "gone.png", "text": "two"}""");
        var r = Run("data", "check", dir, "--skip-bad");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("1 images, 1 captions (train 1), 2 bad lines skipped", r.Out);
        Assert.Contains("skipped line 2: invalid JSON", r.Out);
        Assert.Contains("skipped line 3: image", r.Out);
    }

    [Fact]
    public void Check_RefusesAFifoImage_WithoutHanging()
    {
        string dir = Folder("""{"file_name": "a.png", "text": "one"}""", """{"file_name": "pipe.png", "text": "two"}""");
        SpecialFiles.MakeFifo(Path.Combine(dir, "pipe.png"));
        InProcessCli.Result? r = null;
        Assert.Null(SpecialFiles.WithTimeout(() => r = Run("data", "check", dir)));
        Assert.Equal(CommandRunner.UserError, r!.Code);
        Assert.Contains("metadata.jsonl line 2", r.Err);
        Assert.Contains("is a FIFO (named pipe), not a regular file", r.Err);
    }

    [Fact]
    public void Check_FailsForAMissingFolder()
    {
        string dir = Path.Combine(TestEnvironment.NewTempDir(), "absent");
        var r = Run("data", "check", dir);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains(dir, r.Err);
    }
}
