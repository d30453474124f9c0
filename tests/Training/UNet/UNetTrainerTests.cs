using System.Diagnostics;
using Latent.Core.Training;
using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Schedulers;
using Latent.Training.UNet;
using Latent.UNetCrossAttn;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.Tests.UNet;

[Collection(SerialTrainingCollection.Name)]
public sealed class UNetTrainerTests(ITestOutputHelper output) : IDisposable
{
    readonly ToyWorld world = new();

    public void Dispose() => world.Dispose();

    [Fact]
    public void Train_ToyColours_LossFallsAndGuidedSamplesMatchTheirCaptions()
    {
        using var scope = NewDisposeScope();
        // 4 solid colours, one caption each: an end-to-end overfit. After training, sampling "red" with CFG must give the
        // image closest to red's reconstruction among the four (the Tiny VAE is random, so "red" means its decode of red).
        // EmaDecay 0: the EMA follows the weights (a short run's EMA lags them), so the samples show what was learnt.
        const int steps = 500;
        var config = UNetTrainingConfig.Tiny with
        {
            Steps = steps, LearningRate = 3e-3, WarmupSteps = 10, EmaDecay = 0, CheckpointInterval = 0, LogInterval = 25,
        };
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        using var trainer = world.Trainer(cache, config);
        var clock = Stopwatch.StartNew();
        var losses = Enumerable.Range(0, steps).Select(_ => trainer.TrainStep().Loss).ToList();
        double trainSeconds = clock.Elapsed.TotalSeconds;

        using var samples = trainer.Sample(ToyWorld.Colours, seed: 1, steps: 20, guidanceScale: 7.5);   // [4, 3, 16, 16]
        using var references = world.References();                                                    // [4, 3, 16, 16]
        // distances[i, j] = MSE(sample i, reference j)
        using var distances = (samples.unsqueeze(1) - references.unsqueeze(0)).pow(Scalars.Of(2)).mean(new long[] { 2, 3, 4 });
        long[] nearest = distances.argmin(1).data<long>().ToArray();
        double first = losses.Take(25).Average(), last = losses.TakeLast(25).Average();
        output.WriteLine($"{steps} steps in {trainSeconds:F1} s; loss first 25 {first:F4}, last 25 {last:F4}; nearest {string.Join(",", nearest)}");
        output.WriteLine(distances.ToString(TorchSharp.TensorStringStyle.Numpy));

        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(last < 0.6 * first, $"loss did not fall enough: first {first:F4}, last {last:F4}");
        Assert.Equal(new long[] { 0, 1, 2, 3 }, nearest);
    }

    [Fact]
    public void Resume_IsBitExact()
    {
        using var scope = NewDisposeScope();
        var config = UNetTrainingConfig.Tiny with { CaptionDropout = 0.5, NoiseOffset = 0.1 };
        const int k = 3;
        using var cache = world.Cache(TestEnvironment.NewTempDir());

        using var runs = world.StraightAndResumed(cache, config, k);
        runs.AssertSameEnd();
        Assert.Equal(File.ReadAllLines(Path.Combine(runs.Straight.OutDir, UNetTrainingLog.FileName)).Select(StripTiming),
                     File.ReadAllLines(Path.Combine(runs.Resumed.OutDir, UNetTrainingLog.FileName)).Select(StripTiming));
    }

    static string StripTiming(string line) => line[..line.IndexOf(",\"sec_per_step\"", StringComparison.Ordinal)];

    [Fact]
    public void Run_Completed_ExportsALoadablePipelineFolder()
    {
        using var scope = NewDisposeScope();
        var config = UNetTrainingConfig.Tiny with { Steps = 2, SampleInterval = 1, PredictionType = PredictionType.VPrediction };
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        using var trainer = world.Trainer(cache, config);
        var result = trainer.Run();

        Assert.Equal(trainer.OutDir, result.ExportDirectory);
        Assert.True(File.Exists(Path.Combine(trainer.OutDir, "samples", "step-000001.png")));
        Assert.True(File.Exists(Path.Combine(trainer.OutDir, "samples", "step-000002.png")));
        var scheduler = ConfigFile.Read<SchedulerConfig>(Path.Combine(trainer.OutDir, "scheduler", "scheduler_config.json")).Config;
        Assert.Equal((SchedulerConfig.DdimClassName, BetaSchedule.ScaledLinear, 0.00085, 0.012, 1000, PredictionType.VPrediction),
            (scheduler.ClassName, scheduler.BetaSchedule, scheduler.BetaStart, scheduler.BetaEnd, scheduler.NumTrainTimesteps, scheduler.PredictionType));
        Assert.Equal((false, false, 1), (scheduler.ClipSample!.Value, scheduler.SetAlphaToOne!.Value, scheduler.StepsOffset));

        using var pipeline = StableDiffusionPipeline.Load(trainer.OutDir);
        using var image = pipeline.Generate(new GenerationRequest { Prompts = ["red"], Steps = 2, Seed = 1 });
        Assert.Equal(new long[] { 1, 3, 16, 16 }, image.Images.shape);

        // The exported U-Net holds the EMA weights.
        using var exported = UNet2DConditionModel.FromPretrained(Path.Combine(trainer.OutDir, "unet"));
        var ema = trainer.Ema.StateTensors();
        Assert.All(exported.named_parameters(), np => Assert.True(ToyWorld.BitEqual(np.parameter, ema[np.name]), np.name));
    }

    [Fact]
    public void InitFrom_StartsFromTheFoldersWeights_ResumesWithoutIt_AndRefusesAnotherArchitecture()
    {
        using var scope = NewDisposeScope();
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        string source = TestEnvironment.NewTempDir();
        manual_seed(123);
        using (var pretrained = new UNet2DConditionModel(ToyWorld.UNet)) pretrained.SavePretrained(source);
        using var expected = UNet2DConditionModel.FromPretrained(source);
        var config = UNetTrainingConfig.Tiny with { InitFrom = source, Seed = 7 };

        string runDir = TestEnvironment.NewTempDir();
        using (var trainer = world.Trainer(cache, config, runDir))
        {
            var loaded = trainer.Model.state_dict();
            foreach (var (name, value) in expected.state_dict())
                Assert.True(ToyWorld.BitEqual(value, loaded[name]), $"{name} was not taken from init_from");
            Assert.Equal(2, trainer.Run(stopAfterStep: 2).Step);
        }
        using (var fresh = world.Trainer(cache, config with { InitFrom = null }))
            Assert.False(ToyWorld.BitEqual(fresh.Model.state_dict()["conv_out.weight"], expected.state_dict()["conv_out.weight"]));

        // A run with a checkpoint resumes from it: the init_from folder is no longer needed.
        Directory.Delete(source, recursive: true);
        using (var resumed = world.Trainer(cache, config, runDir))
        {
            Assert.Equal(2, resumed.Resume());
            Assert.True(resumed.Run().Completed);
        }

        manual_seed(123);
        using (var pretrained = new UNet2DConditionModel(ToyWorld.UNet)) pretrained.SavePretrained(source);
        var other = ToyWorld.UNet with { FlipSinToCos = !ToyWorld.UNet.FlipSinToCos };
        var e = Assert.Throws<ArgumentException>(() =>
            world.Trainer(cache, config, unet: other));
        Assert.Contains("another architecture: flip_sin_to_cos", e.Message);
        var missing = Assert.Throws<FileNotFoundException>(() => world.Trainer(cache, config with { InitFrom = TestEnvironment.NewTempDir() }));
        Assert.Contains("is not a U-Net folder", missing.Message);
    }

    [Fact]
    public void Run_NonFiniteGradientEveryStep_StopsAfterThreeSkipsNamingTheStepAndFirstParameter()
    {
        var config = UNetTrainingConfig.Tiny with { CheckpointInterval = 0 };
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        using var trainer = world.Trainer(cache, config);
        using (no_grad())
        {
            // NaN output bias: the loss and every gradient are NaN.
            using var nan = float.NaN.ToScalar();
            trainer.Model.named_parameters().Single(p => p.name == "conv_out.bias").parameter.fill_(nan);
        }
        var reports = new List<TrainingProgress<UNetStepResult>>();

        var e = Assert.Throws<Latent.Core.Training.NonFiniteGradientException>(() => trainer.Run(new Collect(reports)));

        Assert.Equal(4, e.Step);
        Assert.Equal(trainer.Model.named_parameters().First().name, e.FirstParameter);
        Assert.Contains("training stopped at step 4", e.Message);
        Assert.Equal([1L, 2L, 3L], reports.Select(r => r.SkippedSteps));
        Assert.All(reports, r => Assert.True(r.Last!.Skipped));
        Assert.Equal(4, new UNetTrainingLog(trainer.OutDir).Read().Count(l => l["skipped_step"] is not null));
    }

    sealed class Collect(List<TrainingProgress<UNetStepResult>> reports) : IProgress<TrainingProgress<UNetStepResult>>
    {
        public void Report(TrainingProgress<UNetStepResult> value) => reports.Add(value);
    }

    [Fact]
    public void Resume_WithAnotherConfig_Throws()
    {
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        string dir = TestEnvironment.NewTempDir();
        using (var first = world.Trainer(cache, UNetTrainingConfig.Tiny, dir)) first.Run(stopAfterStep: 2);
        using var other = world.Trainer(cache, UNetTrainingConfig.Tiny with { LearningRate = 0.5 }, dir);
        var e = Assert.Throws<InvalidDataException>(() => other.Resume());
        Assert.Contains("another config", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForCrossAttentionWidthOtherThanTheTextStates()
    {
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        var e = Assert.Throws<ArgumentException>(() => world.Trainer(cache, UNetTrainingConfig.Tiny, unet: UNetConfig.Tiny));
        Assert.Contains("cross_attention_dim 16", e.Message);
        Assert.Contains("32 wide", e.Message);
    }

    [Fact]
    public void Config_ThrowsForCaptionDropoutAboveOne()
    {
        var e = Assert.Throws<ArgumentException>(() => (UNetTrainingConfig.Tiny with { CaptionDropout = 1.5 }).Validate());
        Assert.Contains("caption_dropout is 1.5", e.Message);
        Assert.Contains("[0, 1]", e.Message);
    }

    [Fact]
    public void Config_RoundTripsThroughJson()
    {
        var config = UNetTrainingConfig.Tiny with { PredictionType = PredictionType.VPrediction, ValidationPrompts = ["a", "b c"] };
        var back = ConfigFile.ReadText<UNetTrainingConfig>(ConfigFile.ToJsonText(config), "test").Config;
        Assert.Equal(ConfigFile.ToJsonText(config), ConfigFile.ToJsonText(back));
        Assert.Contains("\"prediction_type\": \"v_prediction\"", ConfigFile.ToJsonText(config));
    }

    [Fact]
    public void Constructor_BalanceByAFieldTheDataLacks_ThrowsNamingIt()
    {
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        var e = Assert.Throws<InvalidDataException>(() => world.Trainer(cache, UNetTrainingConfig.Tiny with { BalanceBy = "base" }));
        Assert.Contains("balance_by 'base'", e.Message);
        Assert.Contains("4 of 4 images", e.Message);
    }

    [Fact]
    public void Config_BalanceBy_IsLeftOutOfTheJsonWhenNullAndRoundTrips()
    {
        Assert.DoesNotContain("balance_by", ConfigFile.ToJsonText(UNetTrainingConfig.Tiny));   // earlier runs' configs resume
        var config = UNetTrainingConfig.Tiny with { BalanceBy = "base" };
        var back = ConfigFile.ReadText<UNetTrainingConfig>(ConfigFile.ToJsonText(config), "test").Config;
        Assert.Equal("base", back.BalanceBy);
        var e = Assert.Throws<ArgumentException>(() => (UNetTrainingConfig.Tiny with { BalanceBy = " " }).Validate());
        Assert.Contains("balance_by", e.Message);
    }
}
