using TorchSharp;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.Judge.Training;
using static TorchSharp.torch;

namespace Latent.Judge.Tests.Training;

public class JudgeTrainerTests
{
    public JudgeTrainerTests() => TestEnvironment.Init();

    /// <summary>Three emoji (one with a skin-tone variant) by two vendors at 16 px; vendor "b" also has validation images.</summary>
    static ImageFolderDataset Data()
    {
        string dir = TestEnvironment.NewTempDir();
        var lines = new List<string>();
        string[] codes = ["1F431", "1F436", "1F44D", "1F44D-1F3FD"];
        int n = 0;
        foreach (string vendor in new[] { "a", "b" })
            for (int c = 0; c < codes.Length; c++)
            {
                using var image = TestTensors.UniformPixels([3, 16, 16], new Generator((ulong)(c * 7 + 1)));
                ImageIO.SavePng(image, Path.Combine(dir, $"{n}.png"));
                string split = vendor == "b" && c == 0 ? "validation" : "train";
                lines.Add($"{{\"file_name\": \"{n}.png\", \"text\": \"emoji {c}\", \"split\": \"{split}\", \"source\": \"{vendor}\", \"unified\": \"{codes[c]}\"}}");
                n++;
            }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return ImageFolderDataset.Read(dir);
    }

    static JudgeTrainingConfig Config(long steps = 4) => new()
    {
        Steps = steps,
        BatchSize = 4,
        WarmupSteps = 1,
        ImageSize = 16,
        BlockOutChannels = [8, 16],
        EvalInterval = 0,
        CheckpointInterval = 2,
        Seed = 3,
    };

    [Fact]
    public void Classes_FoldSkinTones()
    {
        var classes = JudgeImageSet.ClassesOf(Data());
        Assert.Equal(["1F431", "1F436", "1F44D"], classes.Select(c => c.Code));
        Assert.Equal("emoji 2", classes[2].Name);   // named by the rendering without a skin tone
    }

    [Fact]
    public void Run_ExportsAJudgeThatLoads()
    {
        string outDir = TestEnvironment.NewTempDir();
        using (var trainer = new JudgeTrainer(Config(), Data(), outDir))
        {
            var (completed, evaluation) = trainer.Run();
            Assert.True(completed);
            Assert.Equal("validation", evaluation![0].Name);
            Assert.Equal(1, evaluation[0].Images);
        }
        var (judge, classes) = JudgeFolder.Load(Path.Combine(outDir, JudgeTrainer.ExportFolderName));
        using (judge) Assert.Equal(3, classes.Count);
        Assert.True(File.Exists(Path.Combine(outDir, "report.json")));
    }

    [Fact]
    public void Run_NonFiniteGradientEveryStep_StopsAfterThreeSkipsNamingTheStepAndFirstParameter()
    {
        using var trainer = new JudgeTrainer(Config(steps: 8) with { CheckpointInterval = 0 }, Data(), TestEnvironment.NewTempDir());
        using (no_grad())
        {
            // A NaN weight in the classifier: the loss and every gradient before it are NaN.
            using var nan = float.NaN.ToScalar();
            trainer.Model.named_parameters().Single(p => p.name == "classifier.weight").parameter.fill_(nan);
        }

        var e = Assert.Throws<Latent.Core.Training.NonFiniteGradientException>(() => trainer.Run());

        Assert.Equal(4, e.Step);
        Assert.Contains("training stopped at step 4", e.Message);
        Assert.Equal(4, trainer.SkippedSteps);
        Assert.Equal(4, File.ReadLines(Path.Combine(trainer.OutDir, "log.jsonl")).Count(l => l.Contains("\"skipped_step\"")));
    }

    [Fact]
    public void Resume_ContinuesBitForBit()
    {
        using var scope = NewDisposeScope();
        var data = Data();
        string straight = TestEnvironment.NewTempDir(), split = TestEnvironment.NewTempDir();
        using var a = new JudgeTrainer(Config(), data, straight);
        a.Run();
        using (var first = new JudgeTrainer(Config(), data, split)) first.Run(stopAfterStep: 2);
        using var b = new JudgeTrainer(Config(), data, split);
        Assert.Equal(2, b.Resume());
        b.Run();
        var sa = a.Model.state_dict();
        var sb = b.Model.state_dict();
        foreach (var (name, tensor) in sa) Assert.True(tensor.equal(sb[name]).all().item<bool>(), name);
    }

    [Fact]
    public void Holdout_LeavesTheVendorOutAndReportsIt()
    {
        using var trainer = new JudgeTrainer(Config(2) with { HoldoutSource = "b" }, Data(), TestEnvironment.NewTempDir());
        Assert.Equal((4, 0, 4, 3), trainer.Counts);   // vendor a: 4 training images of 3 classes; b: all 4 held out
        var (_, evaluation) = trainer.Run();
        Assert.Equal("holdout:b", evaluation![1].Name);
        Assert.Equal(4, evaluation[1].Images);
    }

    [Fact]
    public void Config_RejectsZeroSteps()
    {
        var e = Assert.Throws<ArgumentException>(() => (Config() with { Steps = 0 }).Validate());
        Assert.Contains("steps is 0", e.Message);
    }
}
