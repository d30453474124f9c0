using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Training;
using Latent.Training.Vae;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Vae;

namespace Latent.Training.Tests.Vae;

[Collection(SerialTrainerCollection.Name)]
public sealed class VaeTrainerTests(ITestOutputHelper output)
{
    static (ImageFolderDataset Train, ImageFolderDataset? Validation) Read(string folder) =>
        (ImageFolderDataset.Read(folder, new ImageFolderOptions { Split = "train" }),
         File.ReadAllText(Path.Combine(folder, ImageFolderDataset.MetadataFile)).Contains("\"validation\"")
             ? ImageFolderDataset.Read(folder, new ImageFolderOptions { Split = "validation" })
             : null);

    sealed class Collect(List<TrainingProgress<VaeStepLosses>> reports) : IProgress<TrainingProgress<VaeStepLosses>>
    {
        public void Report(TrainingProgress<VaeStepLosses> value) => reports.Add(value);
    }

    static VaeTrainingConfig TinyWithDiscriminator => VaeTrainingConfig.Tiny with { Augment = Augmentations.HorizontalFlip };

    [Fact]
    public void TrainStep_OverfitsOneBatch_ReconstructionFalls()
    {
        string folder = TestImageFolder.Create(train: 2);
        var (train, _) = Read(folder);
        var config = VaeTrainingConfig.Tiny with { Steps = 40, DiscriminatorWeight = 0, Augment = Augmentations.None, WarmupSteps = 0 };
        using var trainer = new VaeTrainer(VaeConfig.Tiny, config, train, null, TestEnvironment.NewTempDir());
        var losses = Enumerable.Range(0, 40).Select(_ => trainer.TrainStep().Reconstruction).ToList();
        output.WriteLine($"L1: first {losses[0]:F4}, last {losses[^1]:F4}");
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(losses.TakeLast(5).Average() < 0.5 * losses.Take(5).Average(),
            $"reconstruction did not fall enough: {string.Join(", ", losses.Select(l => l.ToString("F3")))}");
    }

    [Fact]
    public void Resume_WithDiscriminator_IsBitExact()
    {
        string folder = TestImageFolder.Create(train: 6, validation: 2);
        var (train, validation) = Read(folder);
        var config = TinyWithDiscriminator;
        const int k = 3;

        var straightReports = new List<TrainingProgress<VaeStepLosses>>();
        using var straight = new VaeTrainer(VaeConfig.Tiny, config, train, validation, TestEnvironment.NewTempDir());
        var straightResult = straight.Run(new Collect(straightReports));

        string resumedDir = TestEnvironment.NewTempDir();
        using (var first = new VaeTrainer(VaeConfig.Tiny, config, train, validation, resumedDir))
        {
            Assert.Equal(k, first.Run(stopAfterStep: k).Step);
        }
        var resumedReports = new List<TrainingProgress<VaeStepLosses>>();
        using var resumed = new VaeTrainer(VaeConfig.Tiny, config, train, validation, resumedDir);
        Assert.Equal(k, resumed.Resume());
        var resumedResult = resumed.Run(new Collect(resumedReports));

        static List<VaeStepLosses> Steps(List<TrainingProgress<VaeStepLosses>> r) =>
            r.Where(p => p.Phase == TrainingPhase.Training).Select(p => p.Last!).ToList();
        Assert.True(Steps(straightReports).Skip(k).Any(l => l.Discriminator != 0), "the discriminator never ran after the resume point");
        Assert.Equal(Steps(straightReports).Skip(k), Steps(resumedReports));
        AssertSameTensors(straight.Model.state_dict(), resumed.Model.state_dict());
        AssertSameTensors(straight.Ema.StateTensors(), resumed.Ema.StateTensors());
        AssertSameTensors(straight.Discriminator!.state_dict(), resumed.Discriminator!.state_dict());
        Assert.Equal(straightResult.ScalingFactor, resumedResult.ScalingFactor);
        Assert.Equal(straightResult.Validation, resumedResult.Validation);
    }

    [Fact]
    public void Run_Completed_ExportsEmaVaeWithMeasuredScalingFactor_AndLogs()
    {
        using var scope = NewDisposeScope();
        string folder = TestImageFolder.Create(train: 4, validation: 2);
        var (train, validation) = Read(folder);
        string outDir = TestEnvironment.NewTempDir();
        using var trainer = new VaeTrainer(VaeConfig.Tiny, TinyWithDiscriminator, train, validation, outDir);
        var result = trainer.Run();

        Assert.True(result.Completed);
        Assert.True(result.ScalingFactor is > 0 and < 1e3 && result.ScalingFactor != 0.18215, $"scaling factor {result.ScalingFactor}");
        using var exported = AutoencoderKL.FromPretrained(Path.Combine(outDir, "vae"));
        Assert.Equal(result.ScalingFactor!.Value, exported.Config.ScalingFactor, 12);
        using (trainer.Ema.SwapIntoModel())
        {
            // The export holds the EMA weights, rounded to float16.
            var ema = trainer.Model.state_dict();
            foreach (var (key, value) in exported.state_dict())
                Assert.True(value.allclose(ema[key].to(ScalarType.Float16).to(ScalarType.Float32)), key);
        }
        var entries = new VaeTrainingLog(outDir).Read();
        Assert.Equal(TinyWithDiscriminator.Steps, entries.Count(e => e["rec"] is not null));
        Assert.Equal(3, entries.Count(e => e["val_psnr"] is not null));
        Assert.Equal(3, Directory.GetFiles(Path.Combine(outDir, "samples"), "step-*.png").Length);
        Assert.True(File.Exists(Path.Combine(outDir, "loss.png")));
        Assert.True(File.Exists(Path.Combine(outDir, VaeTrainer.TrainingConfigFileName)));
        var saved = ConfigFile.Read<VaeTrainingConfig>(Path.Combine(outDir, VaeTrainer.TrainingConfigFileName)).Config;
        Assert.Equal(TinyWithDiscriminator with { ExtensionData = saved.ExtensionData }, saved);
    }

    [Fact]
    public void Resume_WithAnotherConfig_Throws()
    {
        string folder = TestImageFolder.Create(train: 4);
        var (train, _) = Read(folder);
        string outDir = TestEnvironment.NewTempDir();
        using (var first = new VaeTrainer(VaeConfig.Tiny, VaeTrainingConfig.Tiny, train, null, outDir))
            first.Run(stopAfterStep: 2);
        using var other = new VaeTrainer(VaeConfig.Tiny, VaeTrainingConfig.Tiny with { LearningRate = 1e-3 }, train, null, outDir);
        var e = Assert.Throws<InvalidDataException>(() => other.Resume());
        Assert.Contains("another config", e.Message);
    }

    [Fact]
    public void InitFrom_StartsFromTheFoldersWeights_AndRefusesAnotherArchitecture()
    {
        using var scope = NewDisposeScope();
        string folder = TestImageFolder.Create(train: 2);
        var (train, _) = Read(folder);
        string source = TestEnvironment.NewTempDir();
        manual_seed(123);
        using (var pretrained = new AutoencoderKL(VaeConfig.Tiny)) pretrained.SavePretrained(source);
        using var expected = AutoencoderKL.FromPretrained(source);

        var config = VaeTrainingConfig.Tiny with { InitFrom = source, Seed = 7 };
        using (var trainer = new VaeTrainer(VaeConfig.Tiny, config, train, null, TestEnvironment.NewTempDir()))
        {
            var loaded = trainer.Model.state_dict();
            foreach (var (name, value) in expected.state_dict())
                Assert.True(value.equal(loaded[name]).all().item<bool>(), $"{name} was not taken from init_from");
        }
        using (var fresh = new VaeTrainer(VaeConfig.Tiny, config with { InitFrom = null }, train, null, TestEnvironment.NewTempDir()))
            Assert.False(fresh.Model.state_dict()["decoder.conv_out.weight"].equal(expected.state_dict()["decoder.conv_out.weight"]).all().item<bool>());

        var other = VaeConfig.Tiny with { NormNumGroups = VaeConfig.Tiny.NormNumGroups / 2 };
        var e = Assert.Throws<ArgumentException>(() => new VaeTrainer(other, config, train, null, TestEnvironment.NewTempDir()));
        Assert.Contains("another architecture", e.Message);
        var missing = Assert.Throws<FileNotFoundException>(() =>
            new VaeTrainer(VaeConfig.Tiny, config with { InitFrom = TestEnvironment.NewTempDir() }, train, null, TestEnvironment.NewTempDir()));
        Assert.Contains("is not a VAE folder", missing.Message);
    }

    [Fact]
    public void DecoderOnly_TrainsTheDecoderAlone_AndExportsInitFromsScalingFactor()
    {
        using var scope = NewDisposeScope();
        string folder = TestImageFolder.Create(train: 2);
        var (train, _) = Read(folder);
        string source = TestEnvironment.NewTempDir();
        manual_seed(123);
        using (var pretrained = new AutoencoderKL(VaeConfig.Tiny with { ScalingFactor = 0.5 })) pretrained.SavePretrained(source);
        using var before = AutoencoderKL.FromPretrained(source);
        var beforeWeights = before.state_dict();

        var config = VaeTrainingConfig.Tiny with { InitFrom = source, DecoderOnly = true, DiscriminatorWeight = 0, Steps = 3, EvalInterval = 0, GridInterval = 0 };
        using var trainer = new VaeTrainer(VaeConfig.Tiny with { ScalingFactor = 0.5 }, config, train, null, TestEnvironment.NewTempDir());
        var result = trainer.Run();

        Assert.True(result.Completed);
        var after = trainer.Model.state_dict();
        foreach (var (name, value) in beforeWeights)
        {
            bool same = value.equal(after[name]).all().item<bool>();
            bool decoder = name.StartsWith("decoder.") || name.StartsWith("post_quant_conv.");
            if (!decoder) Assert.True(same, $"{name} is frozen with decoder_only but changed");
        }
        Assert.False(beforeWeights["decoder.conv_out.weight"].equal(after["decoder.conv_out.weight"]).all().item<bool>(), "the decoder did not train");
        Assert.False(beforeWeights["post_quant_conv.weight"].equal(after["post_quant_conv.weight"]).all().item<bool>(), "post_quant_conv did not train");
        Assert.Equal(0.5, result.ScalingFactor);
        using var exported = AutoencoderKL.FromPretrained(result.ExportDirectory!);
        Assert.Equal(0.5, exported.Config.ScalingFactor);
    }

    [Fact]
    public void DecoderOnly_WithoutInitFrom_IsRefusedNamingTheKey()
    {
        var e = Assert.Throws<ArgumentException>(() => (VaeTrainingConfig.Tiny with { DecoderOnly = true }).Validate());
        Assert.Contains("decoder_only", e.Message);
        Assert.Contains("init_from", e.Message);
    }

    // Puts a value into one parameter (NaN in decoder.conv_out.bias: the loss is NaN, and with L2 every gradient too).
    static void Poison(VaeTrainer trainer, string name, float value = float.NaN)
    {
        using var noGrad = no_grad();
        using var v = value.ToScalar();
        trainer.Model.named_parameters().Single(p => p.name == name).parameter.fill_(v);
    }

    [Fact]
    public void TrainStep_NonFiniteGradient_SkipsTheUpdate_CountsAndLogsIt_ThenTrainingGoesOn()
    {
        using var scope = NewDisposeScope();
        var (train, _) = Read(TestImageFolder.Create(train: 2));
        string outDir = TestEnvironment.NewTempDir();
        var config = VaeTrainingConfig.Tiny with { DiscriminatorWeight = 0, ReconstructionLoss = ReconstructionLoss.L2 };
        using var trainer = new VaeTrainer(VaeConfig.Tiny, config, train, null, outDir);
        using var before = trainer.Model.state_dict()["encoder.conv_in.weight"].clone();

        Poison(trainer, "decoder.conv_out.bias");
        var skipped = trainer.TrainStep();
        Assert.True(skipped.Skipped);
        Assert.True(double.IsNaN(skipped.GradNorm));
        Assert.Equal(1, trainer.SkippedSteps);
        Assert.Equal(1, trainer.Step);
        Assert.True(before.equal(trainer.Model.state_dict()["encoder.conv_in.weight"]).all().item<bool>(), "a skipped step updated the weights");
        var entry = Assert.Single(new VaeTrainingLog(outDir).Read());
        Assert.Equal(1L, (long)entry["step"]!);
        Assert.Equal("loss NaN, gradient norm NaN", (string)entry["skipped_step"]!);
        Assert.Equal("encoder.conv_in.weight", (string)entry["first_non_finite"]!);

        Poison(trainer, "decoder.conv_out.bias", 0f);
        var updated = trainer.TrainStep();
        Assert.False(updated.Skipped);
        Assert.True(double.IsFinite(updated.GradNorm));
        Assert.Equal(1, trainer.SkippedSteps);
        Assert.False(before.equal(trainer.Model.state_dict()["encoder.conv_in.weight"]).all().item<bool>(), "the step after a skip did not update");
    }

    [Fact]
    public void Run_NonFiniteGradientEveryStep_StopsAfterThreeSkipsNamingTheStepAndFirstParameter()
    {
        var (train, _) = Read(TestImageFolder.Create(train: 2));
        string outDir = TestEnvironment.NewTempDir();
        // max_grad_norm 0: clipping off, the guard still measures the norm. No validation or grid of the NaN weights.
        var config = VaeTrainingConfig.Tiny with
        {
            DiscriminatorWeight = 0, ReconstructionLoss = ReconstructionLoss.L2, MaxGradNorm = 0, EvalInterval = 0, GridInterval = 0, CheckpointInterval = 0,
        };
        using var trainer = new VaeTrainer(VaeConfig.Tiny, config, train, null, outDir);
        Poison(trainer, "decoder.conv_out.bias");
        var reports = new List<TrainingProgress<VaeStepLosses>>();

        var e = Assert.Throws<NonFiniteGradientException>(() => trainer.Run(new Collect(reports)));

        Assert.Equal(4, e.Step);
        Assert.Equal("encoder.conv_in.weight", e.FirstParameter);
        Assert.StartsWith("training stopped at step 4: 4 steps in a row were skipped for a non-finite loss or gradient (at most 3 in a row are; " +
                          "the last: loss NaN, gradient norm NaN); first parameter with a non-finite gradient: encoder.conv_in.weight", e.Message);
        Assert.Equal([1L, 2L, 3L], reports.Select(r => r.SkippedSteps));
        Assert.All(reports, r => Assert.True(r.Last!.Skipped));
        Assert.Equal([1L, 2L, 3L, 4L], new VaeTrainingLog(outDir).Read().Where(l => l["skipped_step"] is not null).Select(l => (long)l["step"]!));
    }

    [Fact]
    public void Constructor_ThrowsForDiscriminatorTooDeepForImageSize()
    {
        var (train, _) = Read(TestImageFolder.Create(train: 2));
        var e = Assert.Throws<ArgumentException>(() =>
            new VaeTrainer(VaeConfig.Tiny, VaeTrainingConfig.Tiny with { DiscriminatorLayers = 3 }, train, null, TestEnvironment.NewTempDir()));
        Assert.Contains("discriminator_layers is 3", e.Message);
    }

    static void AssertSameTensors(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(expected.Keys.OrderBy(k => k), actual.Keys.OrderBy(k => k));
        foreach (var (key, value) in expected)
            Assert.True(value.equal(actual[key]).all().item<bool>(), $"{key} differs");
    }
}
