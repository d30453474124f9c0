using Latent.Core.Engine;
using Latent.Core.Training;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using Latent.Training.UNet;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Training.Tests.UNet;

[Collection(GlobalRng.Name)]
public class ClassifierTrainerTests
{
    static readonly int[] Labels = [.. Enumerable.Repeat(0, 6), .. Enumerable.Repeat(1, 6)];

    // class 0: latents of +1, class 1: of -1 ([12, 4, 4, 4] each), with a tight posterior.
    static (Tensor Mean, Tensor LogVar) Latents()
    {
        using var scope = NewDisposeScope();
        var mean = cat([ones(6, 4, 4, 4), ones(6, 4, 4, 4).neg()], 0);
        var logVar = full([12, 4, 4, 4], Scalars.Of(-12.0));
        return (mean.MoveToOuterDisposeScope(), logVar.MoveToOuterDisposeScope());
    }

    static NoiseSchedule Schedule => new(Sd(SchedulerConfig.DdpmClassName));

    static ClassifierTrainer Trainer(Tensor mean, Tensor logVar, ClassifierTrainingConfig config, string? outDir = null) =>
        new(NoisyLatentClassifierConfig.Tiny(2), config, mean, logVar, Labels, 1.0, Schedule, outDir ?? TestEnvironment.NewTempDir());

    [Fact]
    public void Trainer_LearnsTwoSeparableClasses()
    {
        // after training the clean latents are told apart and the loss fell
        var (mean, logVar) = Latents();
        using (mean)
        using (logVar)
        {
            int[] labels = Labels;
            var schedule = Schedule;
            using var trainer = Trainer(mean, logVar, ClassifierTrainingConfig.Tiny with { Seed = 3 });
            trainer.Run();
            using var model = trainer.Model;
            var reports = Intervals(trainer.OutDir);
            Assert.Equal(4, reports.Count);
            Assert.True(reports[^1].Loss < reports[0].Loss, string.Join(", ", reports.Select(r => r.Loss)));
            Assert.Equal(1.0, ClassifierTrainer.Accuracy(model, mean, labels, 1.0, schedule, t: 0));
        }
    }

    [Fact]
    public void Resume_IsBitExact()
    {
        // An interrupted run resumed by a new trainer ends with the weights, EMA and log of an uninterrupted one.
        // Stopped at a log interval's end (an interval cut by a stop is logged over the steps after the resume only, as in
        // every trainer), with clipping and an EMA on, so that their state must survive the checkpoint too.
        const int k = 20;
        var config = ClassifierTrainingConfig.Tiny with { Seed = 5, EmaDecay = 0.9, MaxGradNorm = 1.0 };
        var (mean, logVar) = Latents();
        using (mean)
        using (logVar)
        {
            using var straight = Trainer(mean, logVar, config);
            using var straightModel = straight.Model;
            var straightResult = straight.Run();

            string resumedDir = TestEnvironment.NewTempDir();
            using (var first = Trainer(mean, logVar, config, resumedDir))
            using (first.Model)
                Assert.Equal(k, first.Run(stopAfterStep: k).Step);
            using var resumed = Trainer(mean, logVar, config, resumedDir);
            using var resumedModel = resumed.Model;
            Assert.Equal(k, resumed.Resume());
            var resumedResult = resumed.Run();

            Assert.True(straightResult.Completed && resumedResult.Completed);
            Assert.Equal(straightResult.LastLoss, resumedResult.LastLoss);
            var a = straightModel.state_dict();
            var b = resumedModel.state_dict();
            Assert.All(a.Keys, key => Assert.True(ToyWorld.BitEqual(a[key], b[key]), $"weight {key} differs"));
            var ea = straight.Ema.StateTensors();
            var eb = resumed.Ema.StateTensors();
            Assert.All(ea.Keys, key => Assert.True(ToyWorld.BitEqual(ea[key], eb[key]), $"EMA {key} differs"));
            Assert.Equal(Intervals(straight.OutDir), Intervals(resumed.OutDir));
        }
    }

    [Fact]
    public void Resume_WithAnotherConfig_Throws()
    {
        var (mean, logVar) = Latents();
        using (mean)
        using (logVar)
        {
            string dir = TestEnvironment.NewTempDir();
            using (var first = Trainer(mean, logVar, ClassifierTrainingConfig.Tiny, dir))
            using (first.Model)
                first.Run(stopAfterStep: 2);
            using var other = Trainer(mean, logVar, ClassifierTrainingConfig.Tiny with { LearningRate = 0.5 }, dir);
            using var model = other.Model;
            var e = Assert.Throws<InvalidDataException>(() => other.Resume());
            Assert.Contains("another config", e.Message);
        }
    }

    [Fact]
    public void InitFrom_StartsFromTheFoldersWeights_AndRefusesAnotherArchitecture()
    {
        var (mean, logVar) = Latents();
        using (mean)
        using (logVar)
        {
            string source = TestEnvironment.NewTempDir();
            var classes = new[] { new Latent.Judge.JudgeClass("1F431", "cat face"), new Latent.Judge.JudgeClass("1F436", "dog face") };
            using (var pretrained = Trainer(mean, logVar, ClassifierTrainingConfig.Tiny with { Steps = 2, WarmupSteps = 0 }, source))
            using (pretrained.Model)
            {
                Assert.True(pretrained.Run().Completed);
                Assert.Equal(source, pretrained.Export(classes));
            }
            var (expected, _) = ClassifierFolder.Load(source);
            using (expected)
            using (var trainer = Trainer(mean, logVar, ClassifierTrainingConfig.Tiny with { InitFrom = source, Seed = 9 }))
            using (trainer.Model)
            {
                var loaded = trainer.Model.state_dict();
                foreach (var (name, value) in expected.state_dict())
                    Assert.True(ToyWorld.BitEqual(value, loaded[name]), $"{name} was not taken from init_from");
            }

            var e = Assert.Throws<ArgumentException>(() => new ClassifierTrainer(NoisyLatentClassifierConfig.Tiny(3), ClassifierTrainingConfig.Tiny with { InitFrom = source },
                mean, logVar, Labels, 1.0, Schedule, TestEnvironment.NewTempDir()));
            Assert.Contains("another architecture", e.Message);
        }
    }

    // The log's training entries, one per interval: (step, mean loss, mean batch accuracy).
    static List<Interval> Intervals(string outDir) =>
        new ClassifierTrainingLog(outDir).Read().Where(e => e["loss"] is not null)
            .Select(e => new Interval((long)e["step"]!, (double)e["loss"]!, (double)e["batch_accuracy"]!)).ToList();

    sealed record Interval(long Step, double Loss, double Accuracy);
}
