using Latent.Core.Engine;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using Latent.Training.UNet;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Training.Tests.UNet;

[Collection(GlobalRng.Name)]
public class ClassifierTrainerTests
{
    [Fact]
    public void Trainer_LearnsTwoSeparableClasses()
    {
        using var scope = NewDisposeScope();
        // class 0: latents of +1, class 1: of -1; after training the clean latents are told apart and the loss fell
        using var mean = cat([ones(6, 4, 4, 4), ones(6, 4, 4, 4).neg()], 0);
        using var logVar = full([12, 4, 4, 4], Scalars.Of(-12.0));
        int[] labels = [.. Enumerable.Repeat(0, 6), .. Enumerable.Repeat(1, 6)];
        var schedule = new NoiseSchedule(Sd(SchedulerConfig.DdpmClassName));
        using var trainer = new ClassifierTrainer(NoisyLatentClassifierConfig.Tiny(2), ClassifierTrainingConfig.Tiny with { Seed = 3 }, mean, logVar, labels, 1.0, schedule);
        var reports = new List<ClassifierTrainingProgress>();
        trainer.Run(new Progress(reports));
        using var model = trainer.Model;
        Assert.Equal(4, reports.Count);
        Assert.True(reports[^1].Loss < reports[0].Loss, string.Join(", ", reports.Select(r => r.Loss)));
        Assert.Equal(1.0, ClassifierTrainer.Accuracy(model, mean, labels, 1.0, schedule, t: 0));
    }

    sealed class Progress(List<ClassifierTrainingProgress> reports) : IProgress<ClassifierTrainingProgress>
    {
        public void Report(ClassifierTrainingProgress value) => reports.Add(value);
    }
}
