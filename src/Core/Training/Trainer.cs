using System.Text.Json.Nodes;
using Latent.Core.Config;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>
/// The skeleton of every trainer (VAE, text encoder, U-Net, the classifier of classifier guidance): the run folder,
/// resume, the loop with its cadence of logs, validation, samples and checkpoints, the stop that all ranks agree on, and
/// the end (last validation and samples, charts). A trainer supplies its step (<see cref="TrainStep"/>), its log entry,
/// its checkpoint state and, where it has them, validation and samples; it builds its models itself and exports after
/// <see cref="Train"/>.
/// </summary>
/// <remarks>
/// <para>The run folder OUT holds <c>training_config.json</c> and the trainer's model configs (written by
/// <see cref="WriteRunFolder"/>), <c>log.jsonl</c>, <c>checkpoints/</c>, <c>samples/</c> and the export. A killed run
/// resumed with <see cref="Resume"/> continues bit for bit where its last checkpoint stood.</para>
/// <para>Data-parallel (<see cref="IDataParallel"/> with N ranks, docs/training/distributed.md): every rank runs the
/// same loop and the trainer's step sums the gradients; rank 0 alone writes files, validates and exports, and the ranks
/// decide together when to stop. A trainer writes nothing to the console: it reports through <see cref="IProgress{T}"/>.</para>
/// </remarks>
/// <typeparam name="TStep">The trainer's step record.</typeparam>
public abstract class Trainer<TStep> : IDisposable where TStep : class, ITrainingStep
{
    /// <summary>The training config's file name in OUT.</summary>
    public const string TrainingConfigFileName = TrainingConfig.FileName;

    readonly TrainingConfig config;
    string configJson = "{}";
    string[] runFiles = [TrainingConfigFileName];
    IProgress<TrainingProgress<TStep>>? progress;
    StepClock clock = new();
    TStep? last;
    long validated = -1, sampled = -1;

    /// <summary>Validates the config and sets up the run folder's checkpoints, the learning-rate schedule and the log.</summary>
    /// <param name="config">The hyper-parameters; validated.</param>
    /// <param name="outDir">The run folder (created by <see cref="WriteRunFolder"/>).</param>
    /// <param name="parallel">The ranks of a data-parallel run; null: one process (<see cref="SingleProcess"/>).</param>
    /// <param name="log">The trainer's log in OUT (muted on ranks other than 0).</param>
    /// <exception cref="ArgumentException">A config value is out of range.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The batch is smaller than the number of ranks.</exception>
    protected Trainer(TrainingConfig config, string outDir, IDataParallel? parallel, TrainingLog log)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        ArgumentNullException.ThrowIfNull(log);
        config.Validate();
        this.config = config;
        Parallel = parallel ?? SingleProcess.Instance;
        Share = BatchShare.Of(config.BatchSize, Parallel);
        OutDir = Path.GetFullPath(outDir);
        Log = log;
        Log.Muted = !IsMain;
        Schedule = new CosineWarmupSchedule(config.LearningRate, config.WarmupSteps, config.Steps, config.MinLearningRateRatio);
    }

    /// <summary>The run folder.</summary>
    public string OutDir { get; }

    /// <summary>Completed optimizer steps.</summary>
    public long Step { get; protected set; }

    /// <summary>Steps whose update was skipped for a non-finite loss or gradient norm, in this process.</summary>
    public long SkippedSteps => GradientGuard.SkippedSteps;

    /// <summary>After <c>Resume</c>: one message per newer checkpoint that could not be read and was skipped (newest first).</summary>
    public IReadOnlyList<string> ResumeSkipped { get; private set; } = [];

    /// <summary>The loss averaged over the last logged interval (or the steps after it, when the run stopped between
    /// two logs); NaN when no step ran.</summary>
    public double LastLoss { get; private set; } = double.NaN;

    /// <summary>The processes of the run (one, or the ranks of mpiexec).</summary>
    protected IDataParallel Parallel { get; }

    /// <summary>This rank's rows of the global batch.</summary>
    protected BatchShare Share { get; }

    /// <summary>Rank 0 (or the one process): it writes the run folder.</summary>
    protected bool IsMain => Parallel.Rank == 0;

    /// <summary>The learning rate per step: warm-up, then cosine.</summary>
    protected CosineWarmupSchedule Schedule { get; }

    /// <summary>Skips (and logs) the update of a step whose loss or gradient norm is not finite.</summary>
    protected NonFiniteGradientGuard GradientGuard { get; } = new();

    /// <summary>The run's <c>log.jsonl</c>.</summary>
    protected TrainingLog Log { get; }

    /// <summary>The trainer's checkpoints in OUT/checkpoints/ (set by <see cref="WriteRunFolder"/>).</summary>
    protected CheckpointDirectory Checkpoints { get; private set; } = null!;

    /// <summary>Whether OUT holds no checkpoint: a fresh run, whose weights come from the seed or <c>init_from</c>
    /// (a run with checkpoints is about to be resumed, and the checkpoint replaces those weights).</summary>
    protected bool IsFreshRun => Checkpoints.Latest() is null;

    /// <summary>What a checkpoint holds of the trainer: model, optimizer, EMA, data position and generators.</summary>
    protected abstract TrainingState State { get; }

    /// <summary>Validate every this many steps (0: at the end only); null: the trainer has no validation.</summary>
    protected virtual long? ValidationInterval => null;

    /// <summary>Draw samples every this many steps (0: at the end only); null: the trainer draws none.</summary>
    protected virtual long? SampleInterval => null;

    /// <summary>
    /// Creates OUT, writes <c>training_config.json</c> and the trainer's model configs there (rank 0), and fixes the
    /// identity that every checkpoint carries and <see cref="Resume"/> compares: the model configs, the training config
    /// and anything else that must not change (the data set's size, the tokenizer's vocabulary).
    /// </summary>
    /// <param name="identity">The run's identity, in its order of keys; its <c>training</c> entry is set here when missing.</param>
    /// <param name="files">The model configs to write, by file name.</param>
    protected void WriteRunFolder(JsonObject identity, params (string FileName, JsonConfig Config)[] files)
    {
        Directory.CreateDirectory(OutDir);
        if (IsMain)
        {
            ConfigFile.Write(Path.Combine(OutDir, TrainingConfigFileName), config);
            foreach (var (name, file) in files) ConfigFile.Write(Path.Combine(OutDir, name), file);
        }
        if (!identity.ContainsKey("training")) identity["training"] = Json(config);
        configJson = identity.ToJsonString();
        runFiles = [TrainingConfigFileName, .. files.Select(f => f.FileName)];
        Checkpoints = new CheckpointDirectory(Path.Combine(OutDir, "checkpoints"), config.KeepCheckpoints);
    }

    /// <summary>The run's identity that every checkpoint carries (see <see cref="WriteRunFolder"/>).</summary>
    protected string ConfigJson => configJson;

    /// <summary>A config as a JSON node, as it is written to a file.</summary>
    protected static JsonNode Json(JsonConfig config) => JsonNode.Parse(ConfigFile.ToJsonText(config))!;

    /// <summary>
    /// Loads the newest readable checkpoint of OUT, so that <c>Run</c> continues exactly where it was saved; log entries
    /// after it are dropped.
    /// </summary>
    /// <returns>The step resumed at, or null when OUT has no checkpoint (a fresh run).</returns>
    /// <exception cref="InvalidDataException">The checkpoint belongs to another config or data set, or does not fit the model.</exception>
    public long? Resume()
    {
        (string? latest, ResumeSkipped) = Checkpoints.LatestReadable();
        if (latest is null) return null;
        var info = TrainingCheckpoint.ReadInfo(latest);
        if (!JsonNode.DeepEquals(WithoutFreeKeys(JsonNode.Parse(info.ConfigJson)), WithoutFreeKeys(JsonNode.Parse(configJson))))
            throw new InvalidDataException(
                $"checkpoint '{latest}' was written by a run with another config or data set; resume with the configs in {OutDir} " +
                $"({string.Join(", ", runFiles)}) and the same data, or use a new --out folder");
        LoadCheckpoint(latest, info.Step);
        Step = info.Step;
        Log.TruncateAfter(Step);
        return Step;
    }

    /// <summary>
    /// The training-config keys a resumed run may change (edited in OUT's <c>training_config.json</c>): they change how a
    /// step is computed, not the state a checkpoint continues, e.g. the U-Net's <c>mixed_precision</c>. <see cref="Resume"/>
    /// compares the identities without them; the checkpoints written after it carry the new values.
    /// </summary>
    protected virtual IReadOnlyList<string> KeysFreeOnResume => [];

    // An identity (parsed) with KeysFreeOnResume removed from its training entry.
    JsonNode? WithoutFreeKeys(JsonNode? identity)
    {
        if (identity?["training"] is JsonObject training)
            foreach (string key in KeysFreeOnResume) training.Remove(key);
        return identity;
    }

    /// <summary>Loads the checkpoint of <paramref name="step"/> at <paramref name="path"/> into <see cref="State"/>.</summary>
    protected virtual void LoadCheckpoint(string path, long step) => TrainingCheckpoint.Load(path, State);

    /// <summary>Writes a checkpoint of the current step.</summary>
    /// <remarks>With several ranks, rank 0 alone calls it.</remarks>
    public virtual void SaveCheckpoint() => Checkpoints.Save(State, Step, configJson);

    /// <summary>
    /// One optimizer step on the next batch; returns its numbers. A non-finite loss or gradient norm skips the update,
    /// counted and logged (see <see cref="NonFiniteGradientGuard"/>).
    /// </summary>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    public abstract TStep TrainStep();

    /// <summary>
    /// The update of a step whose gradients are in place (summed over the ranks): clips their total norm to
    /// <c>max_grad_norm</c> (or only measures it, when that is 0), then steps <paramref name="optimizer"/> unless the loss
    /// or the norm is not finite, which <see cref="GradientGuard"/> counts and logs as step <c>Step + 1</c>.
    /// </summary>
    /// <param name="optimizer">The optimizer of the trained model.</param>
    /// <param name="loss">The step's loss (summed over the ranks).</param>
    /// <param name="parameters">The model's named parameters (a skipped step names the first with a non-finite gradient).</param>
    /// <returns>The total norm before clipping, and whether the update was skipped.</returns>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    protected (GradientNorm Norm, bool Skipped) ClipAndStep(AdamWOptimizer optimizer, double loss, IEnumerable<(string name, TorchSharp.Modules.Parameter parameter)> parameters)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        var norm = config.MaxGradNorm > 0
            ? GradientClipping.ClipByTotalNorm(optimizer.Parameters, config.MaxGradNorm)
            : GradientClipping.TotalNorm(optimizer.Parameters);
        bool skipped = GradientGuard.Skip(Step + 1, loss, norm, parameters, Log);
        if (!skipped) optimizer.Step();
        return (norm, skipped);
    }

    /// <summary>The averaged numbers of a log interval (after <c>step</c>, before <c>skipped</c> and <c>sec_per_step</c>).</summary>
    /// <param name="steps">The interval's steps, oldest first (at least one).</param>
    protected abstract IEnumerable<(string Key, JsonNode? Value)> LogValues(IReadOnlyList<TStep> steps);

    /// <summary>The mean gradient norm of the interval's updated steps (a skipped step's norm is not finite).</summary>
    protected static JsonNode? MeanGradNorm(IReadOnlyList<TStep> steps) =>
        TrainingLog.Number(steps.Where(s => !s.Skipped).Sum(s => s.GradNorm) / steps.Count(s => !s.Skipped));

    /// <summary>The mean of one number over the interval.</summary>
    protected static JsonNode? Mean(IReadOnlyList<TStep> steps, Func<TStep, double> value) => TrainingLog.Number(steps.Sum(value) / steps.Count);

    /// <summary>Validates the EMA weights and logs the result (rank 0 only).</summary>
    protected virtual void RunValidation() { }

    /// <summary>Draws the sample grid of the current step (rank 0 only); returns its file.</summary>
    protected virtual string? DrawSamples() => null;

    /// <summary>
    /// Trains until the config's last step (or <paramref name="stopAfterStep"/>, or cancellation), logging, validating,
    /// drawing samples and checkpointing on the way, then saves a checkpoint. A completed run then validates and draws
    /// samples of the final weights (where not just done), reports <see cref="TrainingPhase.Exporting"/> and saves the
    /// charts, on rank 0; the trainer exports after it.
    /// </summary>
    /// <param name="progress">Receives a report after every step and event (called on the training thread).</param>
    /// <param name="stopAfterStep">Stop (with a checkpoint) after this many completed steps; null: the config's total.</param>
    /// <param name="cancellation">Stops after the current step, with a checkpoint (a clean Ctrl+C).</param>
    /// <returns>Whether the run reached its last step.</returns>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm (no checkpoint is written; the last one stands).</exception>
    protected bool Train(IProgress<TrainingProgress<TStep>>? progress, long? stopAfterStep, CancellationToken cancellation)
    {
        this.progress = progress;
        clock = new StepClock();
        last = null;
        long stop = Math.Min(stopAfterStep ?? config.Steps, config.Steps);
        var interval = new List<TStep>();
        long checkpointed = -1;
        double collectiveStart = Parallel.CollectiveTime.TotalSeconds;
        while (Step < stop && !StopRequested(cancellation))
        {
            last = clock.Time(TrainStep);
            interval.Add(last);
            Report(TrainingPhase.Training);

            if (Step % config.LogInterval == 0)
            {
                LogInterval(interval, ref collectiveStart);
                interval.Clear();
            }
            if (Due(ValidationInterval) && IsMain)
            {
                Validate();
                Report(TrainingPhase.Validated);
            }
            if (Due(SampleInterval)) Sample();
            if (config.CheckpointInterval > 0 && Step % config.CheckpointInterval == 0)
            {
                if (IsMain) SaveCheckpoint();
                checkpointed = Step;
                Report(TrainingPhase.Checkpointed);
            }
        }
        if (checkpointed != Step)
        {
            if (IsMain) SaveCheckpoint();
            Report(TrainingPhase.Checkpointed);
        }
        if (interval.Count > 0) LastLoss = interval.Sum(s => s.Loss) / interval.Count;
        if (Step < config.Steps || !IsMain) return Step >= config.Steps;

        // The end (rank 0): validation and samples of the final EMA weights, then the charts.
        if (ValidationInterval is not null && validated != Step) Validate();
        if (SampleInterval is not null && sampled != Step) Sample();
        Report(TrainingPhase.Exporting);
        Log.SaveCharts();
        return true;
    }

    bool Due(long? every) => every > 0 && Step % every.Value == 0;

    void Validate()
    {
        RunValidation();
        validated = Step;
    }

    void Sample()
    {
        Report(TrainingPhase.Sampled, IsMain ? DrawSamples() : null);
        sampled = Step;
    }

    /// <summary>Reports the current step and phase to the run's progress sink.</summary>
    protected void Report(TrainingPhase phase, string? samplePath = null) =>
        progress?.Report(new TrainingProgress<TStep>(Step, config.Steps, phase, last, clock.StepsPerSecond, clock.Eta(config.Steps - Step),
            GradientGuard.SkippedSteps, samplePath));

    // One log entry of the interval's averages; with several ranks a second one with the time spent in collective calls
    // per step (waiting for the slowest rank included).
    void LogInterval(List<TStep> steps, ref double collectiveStart)
    {
        LastLoss = steps.Sum(s => s.Loss) / steps.Count;
        var entry = new JsonObject { ["step"] = Step };
        foreach (var (key, value) in LogValues(steps)) entry[key] = value;
        entry["skipped"] = steps.Count(s => s.Skipped);
        entry["sec_per_step"] = TrainingLog.Number(clock.SecondsPerStep);
        Log.Append(entry);
        if (Parallel.Size == 1) return;
        double collective = Parallel.CollectiveTime.TotalSeconds;
        Log.Append(new JsonObject
        {
            ["step"] = Step,
            ["ranks"] = Parallel.Size,
            ["allreduce_sec_per_step"] = TrainingLog.Number((collective - collectiveStart) / steps.Count),
        });
        collectiveStart = collective;
    }

    // Whether to stop before the next step. With several ranks they decide together (a flag summed over the ranks), so
    // a Ctrl+C that reaches some ranks one step before others still stops all of them after the same step.
    bool StopRequested(CancellationToken cancellation)
    {
        if (Parallel.Size == 1) return cancellation.IsCancellationRequested;
        using var flag = tensor(new[] { cancellation.IsCancellationRequested ? 1f : 0f });
        Parallel.AllReduceSum(flag, $"the stop flag before step {Step + 1}");
        return flag.item<float>() > 0;
    }

    /// <summary>Frees what the trainer owns.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the trainer's models, optimizers, EMA, loaders and tensors.</summary>
    protected abstract void Dispose(bool disposing);
}
