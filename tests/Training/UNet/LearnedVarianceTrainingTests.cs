using Latent.Core.Config;
using Latent.Pipeline;
using Latent.Schedulers;
using Latent.Training.UNet;
using Latent.UNetCrossAttn;
using static TorchSharp.torch;

namespace Latent.Training.Tests.UNet;

[Collection(SerialTrainingCollection.Name)]
public sealed class LearnedVarianceTrainingTests : IDisposable
{
    readonly ToyWorld world = new();

    public void Dispose() => world.Dispose();

    static UNetConfig Learned => ToyWorld.UNet with { OutChannels = 2 * ToyWorld.UNet.OutChannels };

    static UNetTrainingConfig LearnedConfig => UNetTrainingConfig.Tiny with { VarianceType = VarianceType.LearnedRange, Steps = 3, CheckpointInterval = 0 };

    [Fact]
    public void InitFrom_ACChannelUNet_WidensConvOutWithZeros_TrainsAndExportsLearnedRange()
    {
        using var scope = NewDisposeScope();
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        string source = TestEnvironment.NewTempDir();
        manual_seed(123);
        using (var pretrained = new UNet2DConditionModel(ToyWorld.UNet)) pretrained.SavePretrained(source);
        using var expected = UNet2DConditionModel.FromPretrained(source);
        var config = LearnedConfig with { InitFrom = source };

        using var trainer = world.Trainer(cache, config, unet: Learned);
        var loaded = trainer.Model.state_dict();
        long c = ToyWorld.UNet.OutChannels;
        foreach (var (name, value) in expected.state_dict())
        {
            if (!name.StartsWith("conv_out.", StringComparison.Ordinal)) Assert.True(value.equal(loaded[name]).all().item<bool>(), name);
            else
            {
                Assert.True(value.equal(loaded[name].narrow(0, 0, c)).all().item<bool>(), $"{name}: the mean half is not the saved one");
                Assert.Equal(0f, loaded[name].narrow(0, c, c).abs().max().item<float>());
            }
        }

        var result = trainer.Run();
        Assert.True(result.Completed);
        Assert.True(double.IsFinite(result.LastLoss));
        var scheduler = ConfigFile.Read<SchedulerConfig>(Path.Combine(trainer.OutDir, "scheduler", "scheduler_config.json")).Config;
        Assert.Equal((SchedulerConfig.DdpmClassName, VarianceType.LearnedRange), (scheduler.ClassName, scheduler.VarianceType));
        Assert.Contains("\"variance_type\": \"learned_range\"", File.ReadAllText(Path.Combine(trainer.OutDir, UNetTrainer.TrainingConfigFileName)));

        // The export samples with its DDPM (learned variance), and with DDIM (eta 0: mean only; eta 1: the learned sigma).
        using var pipeline = StableDiffusionPipeline.Load(trainer.OutDir);
        foreach (var (kind, eta) in new[] { ((SchedulerKind?)null, 0.0), (SchedulerKind.Ddim, 0.0), (SchedulerKind.Ddim, 1.0) })
        {
            using var image = pipeline.Generate(new GenerationRequest { Prompts = ["red"], Steps = 3, Seed = 1, Scheduler = kind, Eta = eta, GuidanceScale = 3 });
            Assert.Equal(new long[] { 1, 3, 16, 16 }, image.Images.shape);
            Assert.True(image.Images.isfinite().all().item<bool>());
        }
    }

    [Fact]
    public void VarianceHalf_LearnsFromLvlb_WhileTheMeanTakesOnlyTheMse()
    {
        // Loss falls over a few steps, and the variance channels move away from their zero start.
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        var config = LearnedConfig with { Steps = 30, LearningRate = 3e-3, WarmupSteps = 1 };
        manual_seed(5);
        using var trainer = world.Trainer(cache, config, unet: Learned);
        var losses = Enumerable.Range(0, 30).Select(_ => trainer.TrainStep().Loss).ToList();
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(losses.TakeLast(10).Average() < losses.Take(10).Average(), $"loss did not fall: {string.Join(", ", losses)}");
    }

    [Fact]
    public void Constructor_ThrowsForACChannelUNetInALearnedVarianceRun()
    {
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        var e = Assert.Throws<ArgumentException>(() =>
            world.Trainer(cache, LearnedConfig));
        Assert.Contains($"out_channels {2 * ToyWorld.UNet.OutChannels} (twice: mean and learned variance)", e.Message);
    }

    [Fact]
    public void Config_ThrowsForAVlbWeightWithoutALearnedVariance()
    {
        var e = Assert.Throws<ArgumentException>(() => (UNetTrainingConfig.Tiny with { VlbWeight = 0.01 }).Validate());
        Assert.Contains("vlb_weight", e.Message);
    }

    [Fact]
    public void Config_WithoutALearnedVariance_WritesNoNewKeys()
    {
        // runs from before issue 25 resume: their saved JSON has neither key, and a fixed-variance config writes neither
        string json = ConfigFile.ToJsonText(UNetTrainingConfig.Tiny);
        Assert.DoesNotContain("variance_type", json);
        Assert.DoesNotContain("vlb_weight", json);
        var back = ConfigFile.ReadText<UNetTrainingConfig>(ConfigFile.ToJsonText(LearnedConfig), "test").Config;
        Assert.Equal(VarianceType.LearnedRange, back.VarianceType);
    }
}
