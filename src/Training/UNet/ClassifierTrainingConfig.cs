using Latent.Core.Config;

namespace Latent.Training.UNet;

/// <summary>
/// Hyper-parameters of <see cref="ClassifierTrainer"/> (issue 25, classifier guidance): a timestep-conditioned classifier
/// trained with cross-entropy on x_t = sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps, t ~ U{0, ..., T-1}, as
/// Dhariwal &amp; Nichol train theirs (on the whole schedule: guidance asks it at every step). Saved as
/// <c>training_config.json</c>.
/// </summary>
public sealed record ClassifierTrainingConfig : JsonConfig
{
    /// <summary>Optimizer steps. 3000 steps of 64 see each of the ~600 images of the judge prompts' emoji ~300 times at random noise levels.</summary>
    public long Steps { get; init; } = 3000;

    /// <summary>Latents per step (64: a step costs a few tens of ms for the default classifier).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Peak AdamW learning rate (3e-4, Dhariwal &amp; Nichol's classifier rate).</summary>
    public double LearningRate { get; init; } = 3e-4;

    /// <summary>Linear warm-up steps before the cosine decay to 10%.</summary>
    public long WarmupSteps { get; init; } = 100;

    /// <summary>AdamW weight decay of kernels and matrices (0.05, as the guided-diffusion classifiers).</summary>
    public double WeightDecay { get; init; } = 0.05;

    /// <summary>Seeds the weights, the batches, the posterior samples, the timesteps and the noise.</summary>
    public ulong Seed { get; init; }

    /// <summary>Report the mean loss and accuracy every this many steps.</summary>
    public long LogInterval { get; init; } = 100;

    /// <summary>A config for unit tests.</summary>
    public static ClassifierTrainingConfig Tiny { get; } = new() { Steps = 40, BatchSize = 8, LearningRate = 3e-3, WarmupSteps = 2, LogInterval = 10 };

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it, its value and the range.</exception>
    public void Validate()
    {
        Check(Steps >= 1, "steps", Steps, ">= 1");
        Check(BatchSize >= 1, "batch_size", BatchSize, ">= 1");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", LearningRate, "> 0");
        Check(WarmupSteps >= 0 && WarmupSteps <= Steps, "warmup_steps", WarmupSteps, $"in [0, steps = {Steps}]");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), "weight_decay", WeightDecay, ">= 0");
        Check(LogInterval >= 1, "log_interval", LogInterval, ">= 1");
    }

    static void Check(bool ok, string key, object value, string expected)
    {
        if (!ok) throw new ArgumentException($"classifier training config: {key} is {value}; expected {expected}.", key);
    }
}
