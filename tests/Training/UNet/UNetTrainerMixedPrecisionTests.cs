using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.Core.Training;
using Latent.Training.UNet;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Training.Tests.UNet;

/// <summary><see cref="UNetTrainingConfig.MixedPrecision"/> bf16: bf16 compute on float32 master weights.</summary>
[Collection(SerialTrainingCollection.Name)]
public sealed class UNetTrainerMixedPrecisionTests(ITestOutputHelper output) : IDisposable
{
    readonly ToyWorld world = new();

    public void Dispose() => world.Dispose();

    static readonly UNetTrainingConfig Bf16 = UNetTrainingConfig.Tiny with { MixedPrecision = MixedPrecision.BFloat16, CaptionDropout = 0.5, NoiseOffset = 0.1 };

    // Where this CPU's bf16 kernels are inaccurate (BFloat16Check), the trainer refuses bf16; a test then checks that
    // refusal instead of training, so its verdict does not depend on the CPU that runs it.
    bool RefusedOnThisCpu(LatentCache cache, UNetTrainingConfig config, string? dir = null)
    {
        if (BFloat16Check.Engine.Accurate) return false;
        Assert.Throws<BFloat16InaccurateException>(() => world.Trainer(cache, config, dir));
        return true;
    }

    [Fact]
    public void BFloat16_LossesOfTheFirstStepsStayCloseToFloat32()
    {
        const int steps = 6;
        var fp32Config = UNetTrainingConfig.Tiny with { Steps = steps, CheckpointInterval = 0 };
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        if (RefusedOnThisCpu(cache, fp32Config with { MixedPrecision = MixedPrecision.BFloat16 })) return;
        List<double> Losses(UNetTrainingConfig config)
        {
            using var trainer = world.Trainer(cache, config);
            return Enumerable.Range(0, steps).Select(_ => trainer.TrainStep().Loss).ToList();
        }
        var fp32 = Losses(fp32Config);
        var bf16 = Losses(fp32Config with { MixedPrecision = MixedPrecision.BFloat16 });
        var relative = fp32.Zip(bf16, (a, b) => Math.Abs(a - b) / a).ToList();
        output.WriteLine($"fp32 {string.Join(" ", fp32.Select(l => l.ToString("F5")))}\nbf16 {string.Join(" ", bf16.Select(l => l.ToString("F5")))}");
        output.WriteLine($"relative differences {string.Join(" ", relative.Select(d => d.ToString("E1")))}");
        // Same seed, batches and noise: only the U-Net's rounding differs. Step 1 has the same weights, so the loss
        // differs by the bf16 pass's output error (8 significant bits; ~1% of the output, measured for inference in
        // docs/training/determinism.md), which the squared error roughly doubles: 3% allowed. Later steps add the
        // weights' drift from bf16 gradients (each within ~5% of fp32's, BFloat16ComputeTests), so the 10 steps' mean
        // is held to 3% too (measured here: at most 7.6e-4 relative on any of 10 steps); a pass in the copy's random weights, or gradients never handed to the masters, is 10-100% off.
        Assert.True(relative[0] <= 0.03, $"step 1's loss differs by {relative[0]:P2}; expected at most 3%");
        double meanDifference = Math.Abs(fp32.Average() - bf16.Average()) / fp32.Average();
        Assert.True(meanDifference <= 0.03, $"the mean loss of {steps} steps differs by {meanDifference:P2}; expected at most 3%");
    }

    [Fact]
    public void BFloat16_MasterWeightsOptimizerAndCheckpointStayFloat32()
    {
        using var scope = NewDisposeScope();
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        if (RefusedOnThisCpu(cache, Bf16 with { Steps = 2 })) return;
        using var trainer = world.Trainer(cache, Bf16 with { Steps = 2 });
        var before = trainer.Model.parameters().Select(p => p.detach().clone()).ToList();
        trainer.Run();
        Assert.All(trainer.Model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.Contains(trainer.Model.parameters().Zip(before), pair => !ToyWorld.BitEqual(pair.First, pair.Second));   // it trained
        var checkpoint = SafeTensors.Load(new CheckpointDirectory(Path.Combine(trainer.OutDir, "checkpoints")).Latest()!);
        Assert.All(checkpoint.Where(kv => kv.Value.is_floating_point()), kv => Assert.Equal(ScalarType.Float32, kv.Value.dtype));
        Assert.Contains("\"mixed_precision\": \"bf16\"", File.ReadAllText(Path.Combine(trainer.OutDir, UNetTrainer.TrainingConfigFileName)), StringComparison.Ordinal);
    }

    [Fact]
    public void Float32_ConfigHasNoMixedPrecisionKey()
    {
        // Runs saved before the option existed resume: their training_config.json and checkpoints' configs lack the key.
        Assert.DoesNotContain("mixed_precision", Latent.Core.Config.ConfigFile.ToJsonText(UNetTrainingConfig.Tiny), StringComparison.Ordinal);
        var back = Latent.Core.Config.ConfigFile.ReadText<UNetTrainingConfig>(Latent.Core.Config.ConfigFile.ToJsonText(Bf16), "test").Config;
        Assert.Equal(MixedPrecision.BFloat16, back.MixedPrecision);
    }

    [Fact]
    public void Resume_MaySwitchAFloat32RunToBFloat16()
    {
        using var scope = NewDisposeScope();
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        string dir = TestEnvironment.NewTempDir();
        using (var first = world.Trainer(cache, UNetTrainingConfig.Tiny with { Steps = 4 }, dir)) first.Run(stopAfterStep: 2);
        if (RefusedOnThisCpu(cache, UNetTrainingConfig.Tiny with { Steps = 4, MixedPrecision = MixedPrecision.BFloat16 }, dir)) return;
        using var bf16 = world.Trainer(cache, UNetTrainingConfig.Tiny with { Steps = 4, MixedPrecision = MixedPrecision.BFloat16 }, dir);
        Assert.Equal(2, bf16.Resume());
        bf16.Run();
        Assert.Equal(4, bf16.Step);
        // The checkpoints after the switch carry bf16; the run resumes in float32 again if edited back.
        var latest = TrainingCheckpoint.ReadInfo(new CheckpointDirectory(Path.Combine(dir, "checkpoints")).Latest()!);
        Assert.Equal(4, latest.Step);
        Assert.Contains("\"mixed_precision\":\"bf16\"", latest.ConfigJson, StringComparison.Ordinal);
        using var back = world.Trainer(cache, UNetTrainingConfig.Tiny with { Steps = 4 }, dir);
        Assert.Equal(4, back.Resume());
        // Any other change is still refused.
        using var other = world.Trainer(cache, UNetTrainingConfig.Tiny with { Steps = 4, MixedPrecision = MixedPrecision.BFloat16, LearningRate = 0.5 }, dir);
        Assert.Contains("another config", Assert.Throws<InvalidDataException>(() => other.Resume()).Message);
    }

    [Fact]
    public void BFloat16_ResumeIsBitExact()
    {
        using var scope = NewDisposeScope();
        const int k = 3;
        using var cache = world.Cache(TestEnvironment.NewTempDir());
        if (RefusedOnThisCpu(cache, Bf16)) return;
        using var runs = world.StraightAndResumed(cache, Bf16, k);
        runs.AssertSameEnd();
    }
}
