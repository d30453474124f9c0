using Latent.Core.Training;

namespace Latent.Training.UNet;

/// <summary>
/// Hyper-parameters of <see cref="ClassifierTrainer"/> (issue 25, classifier guidance): a timestep-conditioned classifier
/// trained with cross-entropy on x_t = sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps, t ~ U{0, ..., T-1}, as
/// Dhariwal &amp; Nichol train theirs (on the whole schedule: guidance asks it at every step). Saved as
/// <c>training_config.json</c> and inside every checkpoint, like every trainer's (<see cref="TrainingConfig"/>).
/// </summary>
/// <remarks>The classifier trains on the latents it is given (the CLI gives every split's renderings of the prompt
/// list's emoji), so <see cref="TrainingConfig.TrainSplit"/> is not read.</remarks>
public sealed record ClassifierTrainingConfig : TrainingConfig
{
    /// <summary>The defaults: Dhariwal &amp; Nichol's classifier recipe, sized for the judge prompts' emoji on 2 cores.</summary>
    public ClassifierTrainingConfig()
    {
        Steps = 3000;             // 64 latents a step: each of the ~600 images of the judge prompts' emoji ~300 times, at random noise levels
        BatchSize = 64;           // a step costs a few tens of ms for the default classifier
        LearningRate = 3e-4;      // Dhariwal & Nichol's classifier rate
        WarmupSteps = 100;
        Beta1 = 0.9;              // Adam's paper
        Beta2 = 0.999;            // Adam's paper
        WeightDecay = 0.05;       // as the guided-diffusion classifiers
        MaxGradNorm = 0;          // no clipping: the classifier's cross-entropy has no spikes to guard against (and never had)
        EmaDecay = 0;             // the export is the last weights (a run takes minutes; no EMA was ever needed)
        CheckpointInterval = 500;
        LogInterval = 100;
    }

    /// <summary>A config for unit tests.</summary>
    public static ClassifierTrainingConfig Tiny { get; } = new() { Steps = 40, BatchSize = 8, LearningRate = 3e-3, WarmupSteps = 2, LogInterval = 10 };

    /// <inheritdoc />
    protected override string ConfigName => "classifier training config";

    /// <inheritdoc />
    protected override void ValidateOwn() { }
}
