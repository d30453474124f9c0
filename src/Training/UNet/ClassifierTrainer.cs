using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.Core.Training;
using Latent.Judge;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Training.UNet;

/// <summary>The numbers of one classifier training step.</summary>
/// <param name="Loss">The batch's cross-entropy.</param>
/// <param name="GradNorm">The total gradient norm (before clipping, when clipping is on).</param>
/// <param name="LearningRate">The learning rate of this step.</param>
/// <param name="Skipped">Whether the update was skipped because the loss or gradient norm was not finite.</param>
/// <param name="Accuracy">Top-1 accuracy on the batch's noisy latents.</param>
public sealed record ClassifierStepResult(double Loss, double GradNorm, double LearningRate, bool Skipped, double Accuracy) : ITrainingStep;

/// <summary>What <see cref="ClassifierTrainer.Run"/> achieved.</summary>
/// <param name="Step">Completed steps when it returned.</param>
/// <param name="Completed">Whether the run reached its last step (false: stopped early or cancelled; resume later).</param>
/// <param name="LastLoss">The loss averaged over the last logged interval, or NaN when no step ran.</param>
public sealed record ClassifierTrainingResult(long Step, bool Completed, double LastLoss);

/// <summary>
/// Trains a <see cref="NoisyLatentClassifier"/> on noisy latents (issue 25, classifier guidance) on the shared skeleton
/// (<see cref="Trainer{TStep}"/>): each step is batch, posterior sample, forward process, cross-entropy and AdamW with
/// warm-up and cosine decay; the run folder, checkpoints, exact resume, logs and <c>init_from</c> are the skeleton's.
/// </summary>
/// <remarks>
/// <para>The latents are given as the frozen VAE's posterior moments, already encoded (a few hundred images fit in
/// memory); each step takes the next batch of the shuffled data order and draws a fresh posterior sample
/// z_0 = scaling_factor (mean + std n), t ~ U{0..T-1}, eps, and x_t = sqrt(alpha_bar_t) z_0 + sqrt(1 - alpha_bar_t) eps.
/// Every draw comes from one seeded generator, saved in checkpoints with the data position: the same seed gives the same
/// classifier, and a run resumed with <see cref="Trainer{TStep}.Resume"/> continues bit for bit.</para>
/// <para>The run folder OUT holds <c>training_config.json</c>, <c>model_config.json</c>, <c>log.jsonl</c>,
/// <c>checkpoints/</c>, the charts, and after <see cref="Export"/> the classifier folder's files (<c>config.json</c>,
/// <c>classes.json</c>, <c>model.safetensors</c>), so OUT is what <c>txt2img --classifier</c> reads. One process only.</para>
/// </remarks>
public sealed class ClassifierTrainer : Trainer<ClassifierStepResult>
{
    /// <summary>The classifier config's file name in OUT (its <c>config.json</c> is written by the export).</summary>
    public const string ModelConfigFileName = "model_config.json";

    const string NoiseGenerator = "noise";

    readonly ClassifierTrainingConfig config;
    readonly Tensor mean, std, labels;      // [N, C, h, w], [N, C, h, w], [N]
    readonly double scalingFactor;
    readonly NoiseSchedule schedule;
    readonly AdamWOptimizer optimizer;
    readonly ExponentialMovingAverage ema;
    readonly ShuffleSampler sampler;
    readonly Generator noise;

    /// <summary>Builds the classifier (seeded, or from <c>init_from</c>), the optimizer, the EMA and the data order, and
    /// writes the configs to OUT.</summary>
    /// <param name="model">The classifier's architecture; its in_channels and sample size must fit the latents.</param>
    /// <param name="config">The hyper-parameters; validated.</param>
    /// <param name="posteriorMean">The VAE posterior means [N, C, h, w] (unscaled); not disposed.</param>
    /// <param name="posteriorLogVar">Their log-variances, the same shape; not disposed.</param>
    /// <param name="labels">The N class indices in [0, K).</param>
    /// <param name="scalingFactor">The VAE's scaling factor.</param>
    /// <param name="schedule">The diffusion model's noise schedule (the classifier must know its t).</param>
    /// <param name="outDir">The run folder (created when missing).</param>
    /// <exception cref="ArgumentException">A config value is out of range, or shapes or labels do not fit.</exception>
    /// <exception cref="FileNotFoundException"><c>init_from</c> is not a classifier folder.</exception>
    public ClassifierTrainer(NoisyLatentClassifierConfig model, ClassifierTrainingConfig config, Tensor posteriorMean, Tensor posteriorLogVar,
        IReadOnlyList<int> labels, double scalingFactor, NoiseSchedule schedule, string outDir)
        : base(config, outDir, parallel: null, new ClassifierTrainingLog(outDir))
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(posteriorMean);
        ArgumentNullException.ThrowIfNull(posteriorLogVar);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(schedule);
        model.Validate();
        if (posteriorMean.dim() != 4 || posteriorMean.shape[1] != model.InChannels || !posteriorMean.shape.SequenceEqual(posteriorLogVar.shape) || posteriorMean.shape[0] != labels.Count)
            throw new ArgumentException($"expected posterior moments [N, {model.InChannels}, h, w] and N labels; got mean [{string.Join(", ", posteriorMean.shape)}], " +
                                        $"log-variance [{string.Join(", ", posteriorLogVar.shape)}], {labels.Count} labels", nameof(posteriorMean));
        if (labels.Count == 0) throw new ArgumentException("no training latents; expected at least one", nameof(labels));
        if (labels.Any(l => l < 0 || l >= model.NumClasses))
            throw new ArgumentException($"a label is outside [0, {model.NumClasses}): {labels.First(l => l < 0 || l >= model.NumClasses)}", nameof(labels));
        this.config = config;
        this.scalingFactor = scalingFactor;
        this.schedule = schedule;
        var named = model with { ClassName = NoisyLatentClassifierConfig.ClassNameValue };
        WriteRunFolder(new JsonObject
        {
            ["model"] = Json(named),
            ["training"] = Json(config),
            ["data"] = new JsonObject { ["latents"] = labels.Count, ["scaling_factor"] = scalingFactor, ["train_timesteps"] = schedule.NumTrainTimesteps },
        }, (ModelConfigFileName, named));

        // 1. The data, copied: the caller's tensors may go.
        using (var scope = NewDisposeScope())
        {
            mean = posteriorMean.detach().clone().MoveToOuterDisposeScope();
            std = posteriorLogVar.mul(Scalars.Of(0.5)).exp().MoveToOuterDisposeScope();
            this.labels = tensor(labels.Select(l => (long)l).ToArray()).MoveToOuterDisposeScope();
        }

        // 2. The model, seeded: the same seed gives the same initial weights; init_from's replace them in a fresh run.
        manual_seed((long)(config.Seed % long.MaxValue));
        Model = new NoisyLatentClassifier(model);
        if (config.InitFrom is { } init && IsFreshRun) LoadInitialWeights(init, named);
        Model.train();
        var adamW = new AdamWConfig(config.LearningRate, config.Beta1, config.Beta2, WeightDecay: config.WeightDecay);
        optimizer = new AdamWOptimizer(Model.named_parameters(), adamW, AdamWOptimizer.DecayMatricesOnly);
        ema = new ExponentialMovingAverage(Model.named_parameters(), new EmaConfig(Decay: config.EmaDecay, UseWarmup: true));

        // 3. Data order and randomness.
        sampler = new ShuffleSampler(labels.Count, config.Seed);
        noise = new Generator(config.Seed);
    }

    // Fine-tuning start: a classifier folder's weights replace the seeded ones (strictly), before the optimizer and EMA copy them.
    void LoadInitialWeights(string folder, NoisyLatentClassifierConfig model)
    {
        const string name = "classifier training config";
        InitFromCheck.RequireFiles(name, folder, "classifier", ClassifierFolder.ConfigFileName, ClassifierFolder.WeightsFileName);
        var saved = ConfigFile.Read<NoisyLatentClassifierConfig>(Path.Combine(folder, ClassifierFolder.ConfigFileName), NoisyLatentClassifierConfig.ClassNameValue).Config;
        InitFromCheck.RequireSameArchitecture(name, folder, InitFromCheck.ConfigDifferences(saved with { ClassName = NoisyLatentClassifierConfig.ClassNameValue }, model));
        StateDictLoader.LoadFile(Model, Path.Combine(folder, ClassifierFolder.WeightsFileName));
    }

    /// <summary>The classifier being trained (its live training weights). The trainer does not dispose it: the caller
    /// saves and disposes it.</summary>
    public NoisyLatentClassifier Model { get; }

    /// <summary>The EMA of the weights (what <see cref="Export"/> writes).</summary>
    public ExponentialMovingAverage Ema => ema;

    /// <inheritdoc />
    protected override TrainingState State => new()
    {
        Model = Model,
        Optimizer = optimizer,
        Ema = ema,
        Sampler = sampler,
        Generators = new Dictionary<string, Generator> { [NoiseGenerator] = noise },
    };

    /// <summary>
    /// Trains until the config's last step (or <paramref name="stopAfterStep"/>, or cancellation), logging and
    /// checkpointing on the way (see <see cref="Trainer{TStep}.Train"/>); the model is left in evaluation mode.
    /// </summary>
    /// <param name="progress">Receives a report after every step and event (called on the training thread).</param>
    /// <param name="stopAfterStep">Stop (with a checkpoint) after this many completed steps; null: the config's total.</param>
    /// <param name="cancellation">Stops after the current step, with a checkpoint (a clean Ctrl+C).</param>
    /// <exception cref="NonFiniteGradientException">Too many steps in a row had a non-finite loss or gradient norm.</exception>
    public ClassifierTrainingResult Run(IProgress<TrainingProgress<ClassifierStepResult>>? progress = null, long? stopAfterStep = null,
        CancellationToken cancellation = default)
    {
        bool completed = Train(progress, stopAfterStep, cancellation);
        Model.eval();
        return new ClassifierTrainingResult(Step, completed, LastLoss);
    }

    /// <inheritdoc />
    protected override IEnumerable<(string Key, JsonNode? Value)> LogValues(IReadOnlyList<ClassifierStepResult> steps) =>
        [("loss", Mean(steps, s => s.Loss)), ("batch_accuracy", Mean(steps, s => s.Accuracy)), ("grad_norm", MeanGradNorm(steps)),
         ("lr", Mean(steps, s => s.LearningRate))];

    /// <summary>
    /// One optimizer step on the next batch; returns its loss and top-1 accuracy. A non-finite loss or gradient norm skips
    /// the update, counted and logged (see <see cref="NonFiniteGradientGuard"/>).
    /// </summary>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    public override ClassifierStepResult TrainStep()
    {
        using var scope = NewDisposeScope();
        double lr = Schedule.At(Step);
        optimizer.LearningRate = lr;
        optimizer.ZeroGrad();

        // 1. Batch: the next B latents of the data order and their labels.
        var index = tensor(sampler.NextBatch(config.BatchSize).Select(i => (long)i).ToArray());   // [B]
        var y = labels.index_select(0, index);

        // 2. z_0: a fresh posterior sample, scaled; then the forward process at t ~ U{0..T-1}.
        var m = mean.index_select(0, index);
        var z0 = m.add(std.index_select(0, index) * randn(m.shape, generator: noise), Scalars.One).mul(Scalars.Of(scalingFactor));
        var t = randint(0, schedule.NumTrainTimesteps, [config.BatchSize], dtype: ScalarType.Int64, generator: noise);
        var eps = randn(z0.shape, generator: noise);
        var xt = schedule.AddNoise(z0, eps, t);

        // 3. Cross-entropy of p_phi(y | x_t, t); (clip,) AdamW, skipped on a non-finite loss or gradient; EMA.
        var logits = Model.call(xt, t);                                                  // [B, K]
        var loss = nn.functional.cross_entropy(logits, y);
        loss.backward();
        double lossValue = loss.item<float>();
        var (norm, skip) = ClipAndStep(optimizer, lossValue, Model.named_parameters());
        ema.Update();
        Step++;
        double accuracy = logits.argmax(1).eq(y).to(ScalarType.Float32).mean().item<float>();
        return new ClassifierStepResult(lossValue, norm.TotalNorm, lr, skip, accuracy);
    }

    /// <summary>Writes the classifier folder's files into OUT with the EMA weights: what <c>txt2img --classifier</c> reads.</summary>
    /// <param name="classes">The classes of the labels, in label order.</param>
    /// <returns>OUT.</returns>
    /// <exception cref="ArgumentException">The class count differs from the model's.</exception>
    public string Export(IReadOnlyList<JudgeClass> classes)
    {
        using (ema.SwapIntoModel())
            ClassifierFolder.Save(OutDir, Model, classes);
        return OutDir;
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

    /// <summary>Frees the copies of the latents, the optimizer, the EMA and the generator (not <see cref="Model"/>: the
    /// caller saves and disposes it).</summary>
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
        mean.Dispose();
        std.Dispose();
        labels.Dispose();
        optimizer.Dispose();
        ema.Dispose();
        noise.Dispose();
    }
}
