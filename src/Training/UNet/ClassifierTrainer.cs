using Latent.Core.Engine;
using Latent.Core.Training;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Training.UNet;

/// <summary>One logged interval of <see cref="ClassifierTrainer"/>: the step, the mean loss and top-1 accuracy on the noisy batches.</summary>
public sealed record ClassifierTrainingProgress(long Step, long TotalSteps, double Loss, double Accuracy);

/// <summary>
/// Trains a <see cref="NoisyLatentClassifier"/> on noisy latents (issue 25, classifier guidance): one readable loop of
/// batch, posterior sample, forward process, cross-entropy and AdamW with warm-up and cosine decay.
/// </summary>
/// <remarks>
/// The latents are given as the frozen VAE's posterior moments, already encoded (a few hundred images fit in memory);
/// each step draws a fresh posterior sample z_0 = scaling_factor (mean + std n), t ~ U{0..T-1}, eps, and
/// x_t = sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps. Every draw comes from one seeded generator: the same seed
/// gives the same classifier. No checkpoints: a run takes minutes.
/// </remarks>
public sealed class ClassifierTrainer : IDisposable
{
    readonly ClassifierTrainingConfig config;
    readonly Tensor mean, std, labels;      // [N, C, h, w], [N, C, h, w], [N]
    readonly double scalingFactor;
    readonly NoiseSchedule schedule;
    readonly AdamWOptimizer optimizer;
    readonly CosineWarmupSchedule lr;
    readonly Generator generator;

    /// <summary>Builds the classifier (seeded) and the optimizer.</summary>
    /// <param name="model">The classifier's architecture; its in_channels and sample size must fit the latents.</param>
    /// <param name="config">The hyper-parameters; validated.</param>
    /// <param name="posteriorMean">The VAE posterior means [N, C, h, w] (unscaled); not disposed.</param>
    /// <param name="posteriorLogVar">Their log-variances, the same shape; not disposed.</param>
    /// <param name="labels">The N class indices in [0, K).</param>
    /// <param name="scalingFactor">The VAE's scaling factor.</param>
    /// <param name="schedule">The diffusion model's noise schedule (the classifier must know its t).</param>
    /// <exception cref="ArgumentException">Shapes or labels do not fit.</exception>
    public ClassifierTrainer(NoisyLatentClassifierConfig model, ClassifierTrainingConfig config, Tensor posteriorMean, Tensor posteriorLogVar,
        IReadOnlyList<int> labels, double scalingFactor, NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(posteriorMean);
        ArgumentNullException.ThrowIfNull(posteriorLogVar);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(schedule);
        model.Validate();
        config.Validate();
        if (posteriorMean.dim() != 4 || posteriorMean.shape[1] != model.InChannels || !posteriorMean.shape.SequenceEqual(posteriorLogVar.shape) || posteriorMean.shape[0] != labels.Count)
            throw new ArgumentException($"expected posterior moments [N, {model.InChannels}, h, w] and N labels; got mean [{string.Join(", ", posteriorMean.shape)}], " +
                                        $"log-variance [{string.Join(", ", posteriorLogVar.shape)}], {labels.Count} labels", nameof(posteriorMean));
        if (labels.Count == 0) throw new ArgumentException("no training latents; expected at least one", nameof(labels));
        if (labels.Any(l => l < 0 || l >= model.NumClasses))
            throw new ArgumentException($"a label is outside [0, {model.NumClasses}): {labels.First(l => l < 0 || l >= model.NumClasses)}", nameof(labels));
        this.config = config;
        using (var detached = posteriorMean.detach()) mean = detached.clone();   // each temporary held: no dispose scope here
        using (var half = posteriorLogVar.mul(Scalars.Of(0.5))) std = half.exp();
        this.labels = tensor(labels.Select(l => (long)l).ToArray());
        this.scalingFactor = scalingFactor;
        this.schedule = schedule;
        manual_seed((long)(config.Seed % long.MaxValue));
        Model = new NoisyLatentClassifier(model);
        Model.train();
        optimizer = new AdamWOptimizer(Model.named_parameters(), new AdamWConfig(config.LearningRate, WeightDecay: config.WeightDecay), AdamWOptimizer.DecayMatricesOnly);
        lr = new CosineWarmupSchedule(config.LearningRate, config.WarmupSteps, config.Steps, 0.1);
        generator = new Generator(config.Seed);
    }

    /// <summary>The classifier being trained.</summary>
    public NoisyLatentClassifier Model { get; }

    /// <summary>Completed steps.</summary>
    public long Step { get; private set; }

    /// <summary>Trains every step, reporting each log interval.</summary>
    /// <returns>The last interval's report.</returns>
    public ClassifierTrainingProgress Run(IProgress<ClassifierTrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        double loss = 0, correct = 0;
        long n = 0;
        ClassifierTrainingProgress last = new(0, config.Steps, double.NaN, double.NaN);
        while (Step < config.Steps && !cancellation.IsCancellationRequested)
        {
            var (l, c) = TrainStep();
            (loss, correct, n) = (loss + l, correct + c, n + 1);
            if (Step % config.LogInterval == 0 || Step == config.Steps)
            {
                last = new ClassifierTrainingProgress(Step, config.Steps, loss / n, correct / n);
                progress?.Report(last);
                (loss, correct, n) = (0, 0, 0);
            }
        }
        Model.eval();
        return last;
    }

    /// <summary>One step; returns the batch's loss and top-1 accuracy.</summary>
    public (double Loss, double Accuracy) TrainStep()
    {
        using var scope = NewDisposeScope();
        optimizer.LearningRate = lr.At(Step);
        optimizer.ZeroGrad();

        // 1. Batch: B random latents (with replacement) and their labels.
        var index = randint(0, labels.shape[0], [config.BatchSize], dtype: ScalarType.Int64, generator: generator);   // [B]
        var y = labels.index_select(0, index);

        // 2. z_0: a fresh posterior sample, scaled; then the forward process at t ~ U{0..T-1}.
        var m = mean.index_select(0, index);
        var z0 = m.add(std.index_select(0, index) * randn(m.shape, generator: generator), Scalars.One).mul(Scalars.Of(scalingFactor));
        var t = randint(0, schedule.NumTrainTimesteps, [config.BatchSize], dtype: ScalarType.Int64, generator: generator);
        var eps = randn(z0.shape, generator: generator);
        var xt = schedule.AddNoise(z0, eps, t);

        // 3. Cross-entropy of p_phi(y | x_t, t); AdamW.
        var logits = Model.call(xt, t);                                                  // [B, K]
        var loss = nn.functional.cross_entropy(logits, y);
        loss.backward();
        optimizer.Step();
        Step++;
        double accuracy = logits.argmax(1).eq(y).to(ScalarType.Float32).mean().item<float>();
        return (loss.item<float>(), accuracy);
    }

    /// <summary>Top-1 accuracy of the classifier on these latents (posterior means) noised to timestep t with a fixed seed.</summary>
    public static double Accuracy(NoisyLatentClassifier classifier, Tensor posteriorMean, IReadOnlyList<int> labels, double scalingFactor, NoiseSchedule schedule, long t, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(posteriorMean);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(schedule);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var g = new Generator(seed);
        var z0 = posteriorMean.mul(Scalars.Of(scalingFactor));
        using var tS = t.ToScalar();
        var times = full([z0.shape[0]], tS, dtype: ScalarType.Int64);
        var xt = schedule.AddNoise(z0, randn(z0.shape, generator: g), times);
        var predicted = classifier.call(xt, times).argmax(1).data<long>().ToArray();
        return predicted.Zip(labels).Count(p => p.First == p.Second) / (double)labels.Count;
    }

    /// <summary>Frees the copies of the latents, the optimizer and the generator (not <see cref="Model"/>: the caller saves and disposes it).</summary>
    public void Dispose()
    {
        mean.Dispose();
        std.Dispose();
        labels.Dispose();
        optimizer.Dispose();
        generator.Dispose();
    }
}
