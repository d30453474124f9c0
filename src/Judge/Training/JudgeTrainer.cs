using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Training;
using Latent.Judge.Evaluation;
using static TorchSharp.torch;

namespace Latent.Judge.Training;

/// <summary>Top-1/top-5 accuracy of the judge on one set of real images.</summary>
/// <param name="Name">"validation" or "holdout:VENDOR".</param>
/// <param name="Images">Images scored.</param>
/// <param name="Top1">Fraction whose class is the first choice.</param>
/// <param name="Top5">Fraction whose class is among the first five.</param>
public sealed record JudgeSetAccuracy(string Name, int Images, double Top1, double Top5);

/// <summary>One step's numbers, reported after every step.</summary>
public sealed record JudgeTrainingProgress(long Step, long TotalSteps, double Loss, double BatchAccuracy, double LearningRate,
    double StepsPerSecond, IReadOnlyList<JudgeSetAccuracy>? Evaluation, string? Phase);

/// <summary>
/// Trains an <see cref="EmojiJudge"/> on real emoji renderings: class-balanced batches (a seeded shuffle of the classes,
/// one image of each drawn class), strong augmentation (<see cref="JudgeAugmentation"/>), label-smoothed cross-entropy,
/// AdamW with warm-up + cosine, clipping and EMA; evaluates the EMA weights on the validation split and on a held-out
/// vendor; checkpoints atomically and resumes exactly; exports <c>OUT/judge/</c> (float16) at the end.
/// </summary>
/// <remarks>The run folder OUT holds <c>training_config.json</c>, <c>log.jsonl</c>, <c>checkpoints/</c>,
/// <c>judge/</c> and <c>report.json</c>. Writes nothing to the console.</remarks>
public sealed class JudgeTrainer : IDisposable
{
    /// <summary>The training config's file name in OUT.</summary>
    public const string TrainingConfigFileName = "training_config.json";

    /// <summary>The exported judge's folder in OUT.</summary>
    public const string ExportFolderName = "judge";

    const string AugmentGenerator = "augment";

    readonly JudgeTrainingConfig config;
    readonly EmojiJudge model;
    readonly AdamWOptimizer optimizer;
    readonly ExponentialMovingAverage ema;
    readonly CosineWarmupSchedule schedule;
    readonly CheckpointDirectory checkpoints;
    readonly ShuffleSampler sampler;
    readonly Generator augmentGenerator;
    readonly JudgeImageSet train;
    readonly JudgeImageSet validation;
    readonly JudgeImageSet? holdout;
    readonly int[] trainClasses;            // class ids with training images: what the sampler shuffles
    readonly List<int>[] byClass;
    readonly string configJson;
    readonly TrainingLog log;
    readonly NonFiniteGradientGuard gradientGuard = new();
    IReadOnlyList<JudgeSetAccuracy>? lastEvaluation;

    /// <summary>Reads the images into memory, builds the model (seeded), optimizer and EMA, and writes the config to OUT.</summary>
    /// <param name="config">The hyper-parameters; validated.</param>
    /// <param name="data">The whole image folder (every split and vendor): the classes come from all of it.</param>
    /// <param name="outDir">The run folder (created when missing).</param>
    /// <exception cref="ArgumentException">A config value is out of range, or a set is empty.</exception>
    public JudgeTrainer(JudgeTrainingConfig config, ImageFolderDataset data, string outDir)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        config.Validate();
        this.config = config;
        OutDir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(OutDir);
        ConfigFile.Write(Path.Combine(OutDir, TrainingConfigFileName), config);

        // 1. Classes from every record; the sets by split and vendor.
        Classes = JudgeImageSet.ClassesOf(data);
        string? held = config.HoldoutSource;
        bool IsHeld(ImageFolderRecord r) => held is not null && r.Fields.TryGetValue("source", out var s) && s.ToString() == held;
        train = JudgeImageSet.Load(data, Classes, config.ImageSize, r => r.Split == config.TrainSplit && !IsHeld(r));
        if (train.Count == 0) throw new ArgumentException($"no training images (split '{config.TrainSplit}'{(held is null ? "" : $", without vendor '{held}'")}); expected some.");
        byClass = train.ByClass(Classes.Count);
        trainClasses = Enumerable.Range(0, Classes.Count).Where(c => byClass[c].Count > 0).ToArray();
        validation = JudgeImageSet.Load(data, Classes, config.ImageSize, r => r.Split == config.ValidationSplit && !IsHeld(r));
        if (held is not null)
        {
            holdout = JudgeImageSet.Load(data, Classes, config.ImageSize, r => IsHeld(r) && byClass[ClassOf(r)].Count > 0);
            if (holdout.Count == 0) throw new ArgumentException($"holdout_source '{held}' matches no image of a trained class; expected a vendor such as openmoji.");
        }
        configJson = new JsonObject
        {
            ["training"] = JsonNode.Parse(ConfigFile.ToJsonText(config)),
            ["classes"] = Classes.Count,
            ["train_images"] = train.Count,
        }.ToJsonString();

        // 2. Model, optimizer, EMA, schedule, generators: all seeded.
        manual_seed((long)(config.Seed % long.MaxValue));
        model = new EmojiJudge(ModelConfig);
        model.train();
        optimizer = new AdamWOptimizer(model.named_parameters(), new AdamWConfig(config.LearningRate, WeightDecay: config.WeightDecay), AdamWOptimizer.DecayMatricesOnly);
        ema = new ExponentialMovingAverage(model.named_parameters(), new EmaConfig(Decay: config.EmaDecay, UseWarmup: true));
        schedule = new CosineWarmupSchedule(config.LearningRate, config.WarmupSteps, config.Steps, config.MinLearningRateRatio);
        sampler = new ShuffleSampler(trainClasses.Length, config.Seed);
        augmentGenerator = new Generator(config.Seed);
        checkpoints = new CheckpointDirectory(Path.Combine(OutDir, "checkpoints"), config.KeepCheckpoints);
        log = new TrainingLog(OutDir);   // numbers only: the judge draws no charts

        int ClassOf(ImageFolderRecord r)
        {
            string code = EmojiCodes.Fold(r.Fields["unified"].GetString()!);
            for (int i = 0; i < Classes.Count; i++) if (Classes[i].Code == code) return i;
            return -1;
        }
    }

    /// <summary>The run folder.</summary>
    public string OutDir { get; }

    /// <summary>The classes (every base emoji of the data, in ordinal code order).</summary>
    public IReadOnlyList<JudgeClass> Classes { get; }

    /// <summary>The judge's architecture for this run.</summary>
    public JudgeConfig ModelConfig => new()
    {
        ClassName = JudgeConfig.ClassNameValue,
        ImageSize = config.ImageSize,
        BlockOutChannels = config.BlockOutChannels,
        CosineScale = config.CosineScale,
        NumClasses = Classes.Count,
    };

    /// <summary>The model being trained.</summary>
    public EmojiJudge Model => model;

    /// <summary>Steps whose update was skipped for a non-finite loss or gradient (each is a log line; more than
    /// <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> in a row stop the run).</summary>
    public long SkippedSteps => gradientGuard.SkippedSteps;

    /// <summary>Completed steps.</summary>
    public long Step { get; private set; }

    /// <summary>Training, validation and held-out image counts, and the classes that have training images.</summary>
    public (int Train, int Validation, int Holdout, int TrainedClasses) Counts => (train.Count, validation.Count, holdout?.Count ?? 0, trainClasses.Length);

    TrainingState State => new()
    {
        Model = model,
        Optimizer = optimizer,
        Ema = ema,
        Sampler = sampler,
        Generators = new Dictionary<string, Generator> { [AugmentGenerator] = augmentGenerator },
    };

    /// <summary>After <c>Resume</c>: one message per newer checkpoint that could not be read and was skipped (newest first).</summary>
    public IReadOnlyList<string> ResumeSkipped { get; private set; } = [];

    /// <summary>Loads the newest checkpoint of OUT; null when there is none.</summary>
    /// <exception cref="InvalidDataException">It was written by another config or does not fit.</exception>
    public long? Resume()
    {
        (string? latest, ResumeSkipped) = checkpoints.LatestReadable();
        if (latest is null) return null;
        var info = TrainingCheckpoint.ReadInfo(latest);
        if (!JsonNode.DeepEquals(JsonNode.Parse(info.ConfigJson), JsonNode.Parse(configJson)))
            throw new InvalidDataException($"checkpoint '{latest}' was written by a run with another config or data; resume with {TrainingConfigFileName} in {OutDir} and the same --data, or use a new --out");
        TrainingCheckpoint.Load(latest, State);
        Step = info.Step;
        log.TruncateAfter(Step);
        return Step;
    }

    /// <summary>Trains to the last step (or <paramref name="stopAfterStep"/>, or cancellation), then checkpoints; a completed
    /// run evaluates and exports <c>OUT/judge/</c>.</summary>
    /// <returns>The last evaluation (null when none ran) and whether the run completed.</returns>
    public (bool Completed, IReadOnlyList<JudgeSetAccuracy>? Evaluation) Run(IProgress<JudgeTrainingProgress>? progress = null, long? stopAfterStep = null, CancellationToken cancellation = default)
    {
        long stop = Math.Min(stopAfterStep ?? config.Steps, config.Steps);
        var clock = new StepClock();
        long checkpointed = -1;
        double lossSum = 0, accSum = 0;
        int summed = 0;
        (double Loss, double Accuracy, double Lr) last = default;
        void Report(string? phase) =>
            progress?.Report(new JudgeTrainingProgress(Step, config.Steps, last.Loss, last.Accuracy, last.Lr, clock.StepsPerSecond, lastEvaluation, phase));
        while (Step < stop && !cancellation.IsCancellationRequested)
        {
            last = clock.Time(TrainStep);
            lossSum += last.Loss; accSum += last.Accuracy; summed++;
            Report(null);
            if (Step % 50 == 0)
            {
                log.Append(new JsonObject { ["step"] = Step, ["loss"] = TrainingLog.Number(lossSum / summed), ["batch_accuracy"] = TrainingLog.Number(accSum / summed), ["lr"] = TrainingLog.Number(last.Lr), ["seconds_per_step"] = TrainingLog.Number(clock.SecondsPerStep) });
                lossSum = accSum = 0; summed = 0;
            }
            if (config.EvalInterval > 0 && Step % config.EvalInterval == 0) { Evaluate(); Report("evaluated"); }
            if (config.CheckpointInterval > 0 && Step % config.CheckpointInterval == 0) { SaveCheckpoint(); checkpointed = Step; Report("checkpointed"); }
        }
        if (checkpointed != Step) { SaveCheckpoint(); Report("checkpointed"); }
        if (Step < config.Steps) return (false, lastEvaluation);
        if (config.EvalInterval == 0 || Step % config.EvalInterval != 0) Evaluate();
        Export();
        Report("exported");
        return (true, lastEvaluation);
    }

    /// <summary>Evaluates and exports the EMA weights as they stand (e.g. after <see cref="Resume"/> of a run stopped
    /// early), without training further; the export's report records the step.</summary>
    public IReadOnlyList<JudgeSetAccuracy> ExportNow()
    {
        var evaluation = Evaluate();
        Export();
        return evaluation;
    }

    /// <summary>One class-balanced, augmented optimizer step; returns the loss, the batch's top-1 and the rate.</summary>
    public (double Loss, double Accuracy, double Lr) TrainStep()
    {
        using var scope = NewDisposeScope();
        double lr = schedule.At(Step);
        var indices = new int[config.BatchSize];
        var labels = new long[config.BatchSize];
        for (int i = 0; i < indices.Length; i++)
        {
            long epoch = sampler.Epoch;
            int position = sampler.Position;
            var members = byClass[trainClasses[sampler.Next()]];
            indices[i] = members[(int)(Draw(config.Seed, epoch, position) % (ulong)members.Count)];
            labels[i] = train.Labels[indices[i]];
        }
        var x = train.Take(indices);                                                        // [B, 3, S, S]
        if (config.Augment) x = JudgeAugmentation.Apply(x, new AugmentationOptions(), augmentGenerator);
        var target = tensor(labels);                                                        // [B]
        optimizer.LearningRate = lr;
        optimizer.ZeroGrad();
        var logits = model.forward(x);                                                      // [B, K]
        var loss = nn.functional.cross_entropy(logits, target, label_smoothing: config.LabelSmoothing);
        loss.backward();
        double lossValue = loss.item<float>();
        var norm = config.MaxGradNorm > 0
            ? GradientClipping.ClipByTotalNorm(optimizer.Parameters, config.MaxGradNorm)
            : GradientClipping.TotalNorm(optimizer.Parameters);
        if (!gradientGuard.Skip(Step + 1, lossValue, norm, model.named_parameters(), log)) optimizer.Step();
        ema.Update();
        double accuracy = logits.argmax(1).eq(target).to(ScalarType.Float32).mean().item<float>();
        Step++;
        return (lossValue, accuracy, lr);
    }

    /// <summary>Top-1/top-5 of the EMA weights on the validation split and the held-out vendor; logged.</summary>
    public IReadOnlyList<JudgeSetAccuracy> Evaluate()
    {
        var results = new List<JudgeSetAccuracy>();
        using (ema.SwapIntoModel())
        {
            results.Add(Accuracy($"validation", validation));
            if (holdout is not null) results.Add(Accuracy($"holdout:{config.HoldoutSource}", holdout));
        }
        model.train();
        var entry = new JsonObject { ["step"] = Step };
        foreach (var r in results)
        {
            entry[$"{r.Name}_top1"] = TrainingLog.Number(r.Top1);
            entry[$"{r.Name}_top5"] = TrainingLog.Number(r.Top5);
        }
        log.Append(entry);
        return lastEvaluation = results;
    }

    JudgeSetAccuracy Accuracy(string name, JudgeImageSet set)
    {
        if (set.Count == 0) return new JudgeSetAccuracy(name, 0, double.NaN, double.NaN);
        var top1 = new List<bool>();
        var top5 = new List<bool>();
        for (int first = 0; first < set.Count; first += 256)
        {
            using var scope = NewDisposeScope();
            var indices = Enumerable.Range(first, Math.Min(256, set.Count - first)).ToArray();
            using var images = set.Take(indices);
            var (logits, _) = JudgeScoring.Score(model, images);
            var acceptable = indices.Select(i => (IReadOnlyCollection<int>)new[] { set.Labels[i] }).ToList();
            top1.AddRange(JudgeAccuracy.Hits(logits, acceptable, 1));
            top5.AddRange(JudgeAccuracy.Hits(logits, acceptable, 5));
        }
        return new JudgeSetAccuracy(name, set.Count, top1.Count(h => h) / (double)set.Count, top5.Count(h => h) / (double)set.Count);
    }

    void SaveCheckpoint() => checkpoints.Save(State, Step, configJson);

    void Export()
    {
        string dir = Path.Combine(OutDir, ExportFolderName);
        using (ema.SwapIntoModel()) JudgeFolder.Save(dir, model, Classes);
        var report = new JsonObject { ["steps"] = Step, ["classes"] = Classes.Count, ["train_images"] = train.Count, ["trained_classes"] = trainClasses.Length };
        foreach (var r in lastEvaluation ?? [])
            report[r.Name] = new JsonObject { ["images"] = r.Images, ["top1"] = TrainingLog.Number(r.Top1), ["top5"] = TrainingLog.Number(r.Top5) };
        Core.IO.AtomicFile.WriteAllText(Path.Combine(OutDir, "report.json"), report.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>A fixed draw per (seed, epoch, position): which image of the drawn class.</summary>
    static ulong Draw(ulong seed, long epoch, int position) =>
        Mix(seed ^ Mix(0xA0761D6478BD642FUL ^ Mix((ulong)epoch * 0x9E3779B97F4A7C15UL + (ulong)position)));

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        optimizer.Dispose();
        ema.Dispose();
        train.Dispose();
        validation.Dispose();
        holdout?.Dispose();
        model.Dispose();
    }
}
