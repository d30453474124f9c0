using Latent.Core.Engine;
using Latent.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

/// <summary>
/// A miniature trainer over <see cref="TinyConvNet"/> that uses every training utility the way the real trainers do:
/// shuffled synthetic data, input noise from a named generator, dropout from the global one, AdamW with a no-decay
/// group, warm-up + cosine, clipping and EMA, one dispose scope per step.
/// </summary>
internal sealed class TinyRun : IDisposable
{
    public readonly TinyConvNet Model;
    public readonly AdamWOptimizer Optimizer;
    public readonly ExponentialMovingAverage Ema;
    public readonly ShuffleSampler Sampler;
    public readonly Generator Noise;
    public readonly CosineWarmupSchedule Schedule;
    public readonly int BatchSize;
    public long StepIndex;
    readonly Tensor inputs;
    readonly Tensor targets;
    readonly TorchSharp.Modules.AdamW? torchSharpAdamW;

    /// <param name="initSeed">Seeds the global generator before the weights are made.</param>
    /// <param name="noiseSeed">Seeds the named noise generator.</param>
    /// <param name="channels">Width of the net.</param>
    /// <param name="size">H = W of the synthetic images.</param>
    /// <param name="datasetSize">N, the number of synthetic examples.</param>
    /// <param name="batchSize">B.</param>
    /// <param name="totalSteps">T of the cosine schedule.</param>
    /// <param name="optimizer">Which AdamW updates the weights: ours, or TorchSharp's (only to show that
    /// tests/GcStress catches its unheld Scalars; <see cref="Optimizer"/> then stays at its initial state).</param>
    public TinyRun(int initSeed, int noiseSeed = 77, int channels = 8, int size = 8, int datasetSize = 20,
        int batchSize = 4, long totalSteps = 12, TinyOptimizer optimizer = TinyOptimizer.Latent)
    {
        torch.manual_seed(initSeed);
        Model = new TinyConvNet(channels);
        Model.train();
        Optimizer = new AdamWOptimizer(Model.named_parameters(), new AdamWConfig(LearningRate: 1e-2), AdamWOptimizer.DecayMatricesOnly);
        if (optimizer == TinyOptimizer.TorchSharp)
        {
            var decay = Model.parameters().Where(p => p.dim() >= 2);
            var noDecay = Model.parameters().Where(p => p.dim() < 2);
            torchSharpAdamW = torch.optim.AdamW(
            [
                new TorchSharp.Modules.AdamW.ParamGroup(decay, lr: 1e-2, weight_decay: 1e-2),
                new TorchSharp.Modules.AdamW.ParamGroup(noDecay, lr: 1e-2, weight_decay: 0),
            ], lr: 1e-2, weight_decay: 1e-2);
        }
        Ema = new ExponentialMovingAverage(Model.named_parameters(), new EmaConfig(Decay: 0.9, UseWarmup: true));
        Sampler = new ShuffleSampler(datasetSize, seed: 1234);
        Noise = new Generator((ulong)noiseSeed);
        Schedule = new CosineWarmupSchedule(1e-2, WarmupSteps: 3, TotalSteps: totalSteps, MinRatio: 0.1);
        BatchSize = batchSize;
        using var data = new Generator(5);
        inputs = randn(new long[] { datasetSize, 3, size, size }, generator: data);   // [N, 3, H, W]
        using var flipped = inputs.flip(3);
        targets = flipped.mul(Scalars.Of(0.5));                                      // [N, 3, H, W]
    }

    public Dictionary<string, Generator> Generators => new() { ["noise"] = Noise };

    /// <summary>One optimizer step; returns the loss.</summary>
    public float Step()
    {
        using var scope = NewDisposeScope();
        Optimizer.LearningRate = Schedule.At(StepIndex);
        foreach (var group in torchSharpAdamW?.ParamGroups ?? []) group.LearningRate = Optimizer.LearningRate;
        Optimizer.ZeroGrad();
        var idx = tensor(Sampler.NextBatch(BatchSize).Select(i => (long)i).ToArray());
        var x = inputs.index_select(0, idx);
        var y = targets.index_select(0, idx);
        x = x.add(Scalars.Of(0.1) * randn(x.shape, generator: Noise), Scalars.One);
        var loss = nn.functional.mse_loss(Model.forward(x), y);
        loss.backward();
        var norm = GradientClipping.ClipByTotalNorm(Optimizer.Parameters, maxNorm: 1.0);
        if (norm.IsFinite)
        {
#pragma warning disable LAT0001 // deliberately TorchSharp's unheld Scalars, to show that the GC-stress test fails on them
            if (torchSharpAdamW is not null) torchSharpAdamW.step();
#pragma warning restore LAT0001
            else Optimizer.Step();
        }
        Ema.Update();
        StepIndex++;
        return loss.item<float>();
    }

    public void Dispose()
    {
        Ema.Dispose();
        torchSharpAdamW?.Dispose();
        Optimizer.Dispose();
        Model.Dispose();
        inputs.Dispose();
        targets.Dispose();
        Noise.Dispose();
    }
}

/// <summary>Which AdamW <see cref="TinyRun"/> steps with.</summary>
internal enum TinyOptimizer
{
    /// <summary><see cref="AdamWOptimizer"/>, every Scalar held.</summary>
    Latent,
    /// <summary>TorchSharp 0.107's <c>optim.AdamW</c>, whose step makes Scalars nothing holds.</summary>
    TorchSharp,
}
