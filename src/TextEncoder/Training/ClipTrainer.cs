using System.Diagnostics;
using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Core.Training;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Training;

/// <summary>
/// Trains a <see cref="ClipModel"/> (our text encoder and its ResNet image tower) from scratch on an image folder's
/// (image, caption) pairs: masked symmetric InfoNCE (<see cref="ClipContrastiveLoss"/>), captions drawn from each image's
/// captions and templates, AdamW with warm-up + cosine, clipping, logit_scale clamped to ln 100, EMA, periodic
/// retrieval validation, atomic checkpoints, and at the end a diffusers-layout export of the EMA weights.
/// </summary>
/// <remarks>
/// <para>The run folder OUT holds <c>training_config.json</c>, <c>text_config.json</c>, <c>image_config.json</c>,
/// <c>tokenizer/</c> (written first, so a resumed run tokenizes identically), <c>log.jsonl</c>, <c>checkpoints/</c> and
/// finally <c>text_encoder/</c>, <c>image_encoder/</c> (see <see cref="ClipModelFolder"/>), <c>eval.json</c> and charts.</para>
/// <para>A killed run resumed with <see cref="Resume"/> continues bit for bit where its last checkpoint stood: the data
/// order is the sampler's, the caption draws are a pure function of (seed, step, slot), and the global generator is in
/// the checkpoint. The trainer writes nothing to the console: it reports through <see cref="IProgress{T}"/>.</para>
/// <para>Data-parallel (<see cref="IDataParallel"/> with N ranks, docs/training/distributed.md): every rank draws and
/// tokenizes the whole global batch as one process does, encodes its share of the rows with both towers, all-gathers
/// the embeddings of the whole batch, and computes the same contrastive loss over it with its own rows live
/// (<see cref="ClipContrastiveLoss.ComputeOnShare"/>), so the ranks' gradients sum to one process's; they are summed
/// (<see cref="GradientAllReduce"/>) before the same clipped AdamW step on every rank. Rank 0 alone writes files and
/// validates.</para>
/// </remarks>
public sealed class ClipTrainer : IDisposable
{
    /// <summary>The training config's file name in OUT.</summary>
    public const string TrainingConfigFileName = "training_config.json";

    /// <summary>The text tower's config file name in OUT (transformers' <c>CLIPTextConfig</c>).</summary>
    public const string TextConfigFileName = "text_config.json";

    /// <summary>The image tower's config file name in OUT (<see cref="ClipImageEncoderConfig"/>).</summary>
    public const string ImageConfigFileName = "image_config.json";

    /// <summary>The final validation's metrics file in OUT.</summary>
    public const string EvalFileName = "eval.json";

    const int EvalBatch = 64;

    readonly ClipTrainingConfig config;
    readonly ClipModel model;
    readonly ClipTokenizer tokenizer;
    readonly AdamWOptimizer optimizer;
    readonly ExponentialMovingAverage ema;
    readonly ImageBatchLoader loader;
    readonly ImageFolderDataset train;
    readonly string[] keys;
    readonly ClipCaptionSampler captions;
    readonly CosineWarmupSchedule schedule;
    readonly CheckpointDirectory checkpoints;
    readonly ClipEvalSet validationSet;
    readonly string configJson;
    readonly ClipTrainingLog log;
    readonly NonFiniteGradientGuard gradientGuard = new();
    readonly IDataParallel parallel;
    readonly BatchShare share;
    ClipEvaluation? lastValidation;

    /// <summary>Builds the model (seeded), the optimizer, the EMA and the data loader, and writes the configs and the tokenizer to OUT.</summary>
    /// <param name="textConfig">The text tower; its vocabulary must hold the tokenizer's (see <see cref="TextConfigFor"/>).</param>
    /// <param name="imageConfig">The image tower; images are resized to its size.</param>
    /// <param name="config">The hyper-parameters; validated.</param>
    /// <param name="tokenizer">The tokenizer of the captions.</param>
    /// <param name="train">The training pairs.</param>
    /// <param name="validation">The validation pairs; null or empty: the first training pairs.</param>
    /// <param name="outDir">The run folder (created when missing).</param>
    /// <param name="parallel">The ranks of a data-parallel run; null: one process (<see cref="SingleProcess"/>).</param>
    /// <exception cref="ArgumentException">A config value is out of range, or the tokenizer does not fit the text config.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The batch is smaller than the number of ranks.</exception>
    public ClipTrainer(ClipTextConfig textConfig, ClipImageTowerConfig imageConfig, ClipTrainingConfig config, ClipTokenizer tokenizer,
        ImageFolderDataset train, ImageFolderDataset? validation, string outDir, IDataParallel? parallel = null)
    {
        ArgumentNullException.ThrowIfNull(textConfig);
        ArgumentNullException.ThrowIfNull(imageConfig);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        textConfig.Validate();
        imageConfig.Validate();
        config.Validate();
        CheckTokenizer(textConfig, tokenizer);
        this.parallel = parallel ?? SingleProcess.Instance;
        share = BatchShare.Of(config.BatchSize, this.parallel);
        this.config = config;
        this.tokenizer = tokenizer;
        this.train = train;
        OutDir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(OutDir);
        var imageFile = ClipImageEncoderConfig.From(imageConfig, textConfig.ProjectionDim);
        if (IsMain)
        {
            ConfigFile.Write(Path.Combine(OutDir, TrainingConfigFileName), config);
            ConfigFile.Write(Path.Combine(OutDir, TextConfigFileName), textConfig);
            ConfigFile.Write(Path.Combine(OutDir, ImageConfigFileName), imageFile);
            tokenizer.SavePretrained(Path.Combine(OutDir, ClipModelFolder.TokenizerFolder));
        }
        configJson = new JsonObject
        {
            ["text"] = JsonNode.Parse(ConfigFile.ToJsonText(textConfig)),
            ["image"] = JsonNode.Parse(ConfigFile.ToJsonText(imageFile)),
            ["training"] = JsonNode.Parse(ConfigFile.ToJsonText(config)),
            ["tokenizer_vocab_size"] = tokenizer.VocabSize,
        }.ToJsonString();

        // 1. Model, seeded: the same seed gives the same initial weights. A run folder with checkpoints is about to be
        //    resumed, and the checkpoint replaces init_from's weights, so init_from is only read for a fresh run.
        checkpoints = new CheckpointDirectory(Path.Combine(OutDir, "checkpoints"), config.KeepCheckpoints);
        manual_seed((long)(config.Seed % long.MaxValue));
        model = new ClipModel(textConfig, imageConfig);
        if (config.InitFrom is { } init && checkpoints.Latest() is null) LoadInitialWeights(init);
        GradientAllReduce.BroadcastFromRankZero(model.parameters(), this.parallel);   // identical start on every rank
        model.train();
        var adamW = new AdamWConfig(config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);
        optimizer = new AdamWOptimizer(model.named_parameters(), adamW, AdamWOptimizer.DecayMatricesOnly);
        ema = new ExponentialMovingAverage(model.named_parameters(), new EmaConfig(Decay: config.EmaDecay, UseWarmup: true));
        schedule = new CosineWarmupSchedule(config.LearningRate, config.WarmupSteps, config.Steps, config.MinLearningRateRatio);

        // 2. Data: shuffled, prefetched images; captions drawn per step; keys for the false-negative mask.
        loader = new ImageBatchLoader(train, new ImageLoaderOptions
        {
            BatchSize = config.BatchSize,
            Seed = config.Seed,
            Size = new ImageSize(imageConfig.ImageSize, imageConfig.ImageSize),
            Captions = CaptionChoice.First,   // unused: the trainer draws captions itself (templates, resume)
        });
        keys = train.Records.Select(r => ClipPairKeys.Of(r, config.KeyField)).ToArray();
        captions = new ClipCaptionSampler(config.Seed, config.Templates);
        var evalSource = validation is { Count: > 0 } ? validation : train;
        validationSet = ClipEvalSet.Load(evalSource, imageConfig.ImageSize, config.EvalPairs, config.KeyField, config.CategoryField);

        // 3. Run folder.
        log = new ClipTrainingLog(OutDir) { Muted = !IsMain };
    }

    bool IsMain => parallel.Rank == 0;

    /// <summary>The run folder.</summary>
    public string OutDir { get; }

    // Fine-tuning start: the folder's CLIP (both towers and logit_scale) replaces the seeded weights before the
    // optimizer and the EMA copy them. Same names and shapes, or nothing is copied.
    void LoadInitialWeights(string folder)
    {
        string full = Path.GetFullPath(folder);
        if (!ClipModelFolder.Exists(folder))
            throw new FileNotFoundException(
                $"CLIP training config: init_from '{full}' is not a CLIP folder; expected {ClipModelFolder.TextEncoderFolder}/ and {ClipModelFolder.ImageEncoderFolder}/ in it.");
        using ClipModel saved = ClipModelFolder.Load(folder);
        var mine = model.state_dict();
        var theirs = saved.state_dict();
        ClipTextConfig s = saved.TextConfig, r = model.TextConfig;
        string[] differing = mine.Keys.Union(theirs.Keys)
            .Where(k => !mine.TryGetValue(k, out var a) || !theirs.TryGetValue(k, out var b) || !a.shape.SequenceEqual(b.shape))
            .Select(k => $"{k} [{Shape(theirs, k)}] (run: [{Shape(mine, k)}])")
            .Concat((s.HiddenAct, s.LayerNormEps, s.BosTokenId, s.EosTokenId, s.PadTokenId) == (r.HiddenAct, r.LayerNormEps, r.BosTokenId, r.EosTokenId, r.PadTokenId)
                ? []
                : [$"text hidden_act {s.HiddenAct}, layer_norm_eps {s.LayerNormEps}, bos/eos/pad {s.BosTokenId}/{s.EosTokenId}/{s.PadTokenId} " +
                   $"(run: {r.HiddenAct}, {r.LayerNormEps}, {r.BosTokenId}/{r.EosTokenId}/{r.PadTokenId})"])
            .ToArray();
        if (differing.Length > 0)
            throw new ArgumentException(
                $"CLIP training config: init_from '{full}' holds another architecture: {string.Join(", ", differing.Take(3))}" +
                (differing.Length > 3 ? $" and {differing.Length - 3} more" : "") + "; expected the run's text and image configs.");
        using (no_grad())
            foreach (var (name, value) in mine) value.copy_(theirs[name]);

        static string Shape(Dictionary<string, Tensor> d, string key) =>
            d.TryGetValue(key, out var t) ? string.Join(", ", t.shape) : "missing";
    }

    /// <summary>Completed optimizer steps.</summary>
    public long Step { get; private set; }

    /// <summary>The model being trained (its live training weights).</summary>
    public ClipModel Model => model;

    /// <summary>Steps whose update was skipped for a non-finite loss or gradient norm, in this process.</summary>
    public long SkippedSteps => gradientGuard.SkippedSteps;

    /// <summary>The EMA of the weights (what validation and the export use).</summary>
    public ExponentialMovingAverage Ema => ema;

    /// <summary>Number of validation pairs.</summary>
    public int ValidationCount => validationSet.Count;

    /// <summary>
    /// The text config of a preset sized for a tokenizer: <c>vocab_size</c> and the bos, eos and pad ids taken from it
    /// (a BPE trainer that stops early gives fewer tokens than asked, and its special ids move down with them).
    /// </summary>
    public static ClipTextConfig TextConfigFor(ClipTextConfig preset, ClipTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(preset);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return preset with { VocabSize = tokenizer.VocabSize, BosTokenId = tokenizer.BosId, EosTokenId = tokenizer.EosId, PadTokenId = tokenizer.PadId };
    }

    static void CheckTokenizer(ClipTextConfig text, ClipTokenizer tokenizer)
    {
        if (tokenizer.VocabSize > text.VocabSize)
            throw new ArgumentException(
                $"the tokenizer has {tokenizer.VocabSize} tokens but the text encoder's vocab_size is {text.VocabSize}; expected vocab_size >= the tokenizer's.");
        if (tokenizer.EosId != text.EosTokenId)
            throw new ArgumentException(
                $"the tokenizer's eos id is {tokenizer.EosId} but the text encoder's eos_token_id is {text.EosTokenId}; expected them equal (the pooled state is taken at eos).");
        if (tokenizer.ModelMaxLength > text.MaxPositionEmbeddings)
            throw new ArgumentException(
                $"the tokenizer's model_max_length is {tokenizer.ModelMaxLength} but the text encoder has {text.MaxPositionEmbeddings} positions; expected at most that many.");
    }

    TrainingState State => new() { Model = model, Optimizer = optimizer, Ema = ema, Sampler = loader.Sampler };

    /// <summary>After <c>Resume</c>: one message per newer checkpoint that could not be read and was skipped (newest first).</summary>
    public IReadOnlyList<string> ResumeSkipped { get; private set; } = [];

    /// <summary>
    /// Loads the newest checkpoint of OUT, so that <see cref="Run"/> continues exactly where it was saved; log entries
    /// after it are dropped.
    /// </summary>
    /// <returns>The step resumed at, or null when OUT has no checkpoint (a fresh run).</returns>
    /// <exception cref="InvalidDataException">The checkpoint belongs to another config or does not fit the model.</exception>
    public long? Resume()
    {
        (string? latest, ResumeSkipped) = checkpoints.LatestReadable();
        if (latest is null) return null;
        var info = TrainingCheckpoint.ReadInfo(latest);
        if (!JsonNode.DeepEquals(JsonNode.Parse(info.ConfigJson), JsonNode.Parse(configJson)))
            throw new InvalidDataException(
                $"checkpoint '{latest}' was written by a run with another config; resume with the configs in {OutDir} " +
                $"({TrainingConfigFileName}, {TextConfigFileName}, {ImageConfigFileName}, tokenizer/) or use a new --out folder");
        TrainingCheckpoint.Load(latest, State);
        Step = info.Step;
        log.TruncateAfter(Step);
        return Step;
    }

    /// <summary>
    /// Trains until the config's last step (or <paramref name="stopAfterStep"/>, or cancellation), validating, logging
    /// and checkpointing on the way, then saves a checkpoint; a completed run also validates and exports the EMA weights.
    /// </summary>
    /// <param name="progress">Receives a report after every step and event (called on the training thread).</param>
    /// <param name="stopAfterStep">Stop (with a checkpoint) after this many completed steps; null: the config's total.</param>
    /// <param name="cancellation">Stops after the current step (with a checkpoint).</param>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm (no checkpoint is written; the last one stands).</exception>
    public ClipTrainingResult Run(IProgress<ClipTrainingProgress>? progress = null, long? stopAfterStep = null, CancellationToken cancellation = default)
    {
        long stop = Math.Min(stopAfterStep ?? config.Steps, config.Steps);
        var sums = new double[5];
        int summed = 0, skipped = 0;
        var clock = new StepClock();
        ClipStepLosses? last = null;
        long checkpointed = -1;
        void Report(ClipTrainingPhase phase)
        {
            progress?.Report(new ClipTrainingProgress(Step, config.Steps, phase, last, clock.StepsPerSecond, clock.Eta(config.Steps - Step), lastValidation,
                gradientGuard.SkippedSteps));
        }

        while (Step < stop && !StopRequested(cancellation))
        {
            last = clock.Time(TrainStep);
            double[] values = [last.Loss, last.LogitScale, last.BatchAccuracy, last.MaskedPairs, last.Skipped ? 0 : last.GradNorm];
            for (int i = 0; i < values.Length; i++) sums[i] += values[i];
            summed++;
            if (last.Skipped) skipped++;
            Report(ClipTrainingPhase.Training);

            if (Step % config.LogInterval == 0)
            {
                log.Append(new JsonObject
                {
                    ["step"] = Step,
                    ["loss"] = ClipTrainingLog.Number(sums[0] / summed),
                    ["logit_scale"] = ClipTrainingLog.Number(sums[1] / summed),
                    ["batch_acc"] = ClipTrainingLog.Number(sums[2] / summed),
                    ["masked_pairs"] = ClipTrainingLog.Number(sums[3] / summed),
                    ["grad_norm"] = ClipTrainingLog.Number(sums[4] / (summed - skipped)),   // over the updated steps
                    ["skipped"] = skipped,
                    ["lr"] = ClipTrainingLog.Number(last.LearningRate),
                    ["sec_per_step"] = ClipTrainingLog.Number(clock.SecondsPerStep),
                });
                Array.Clear(sums);
                summed = skipped = 0;
            }
            if (config.EvalInterval > 0 && Step % config.EvalInterval == 0 && IsMain)
            {
                Validate();
                Report(ClipTrainingPhase.Validated);
            }
            if (config.CheckpointInterval > 0 && Step % config.CheckpointInterval == 0)
            {
                if (IsMain) SaveCheckpoint();
                checkpointed = Step;
                Report(ClipTrainingPhase.Checkpointed);
            }
        }
        if (checkpointed != Step)
        {
            if (IsMain) SaveCheckpoint();
            Report(ClipTrainingPhase.Checkpointed);
        }
        if (Step < config.Steps) return new ClipTrainingResult(Step, false, lastValidation, null);
        if (!IsMain) return new ClipTrainingResult(Step, true, null, null);   // rank 0 validates and exports

        // The end: validation of the final EMA weights, charts and export.
        if (config.EvalInterval == 0 || Step % config.EvalInterval != 0) Validate();
        Report(ClipTrainingPhase.Exporting);
        log.SaveCharts();
        string exportDir = Export();
        return new ClipTrainingResult(Step, true, lastValidation, exportDir);
    }

    // Whether to stop before the next step; with several ranks a flag summed over them, so all stop after the same step.
    bool StopRequested(CancellationToken cancellation)
    {
        if (parallel.Size == 1) return cancellation.IsCancellationRequested;
        using var flag = tensor(new[] { cancellation.IsCancellationRequested ? 1f : 0f });
        parallel.AllReduceSum(flag, $"the stop flag before step {Step + 1}");
        return flag.item<float>() > 0;
    }

    /// <summary>
    /// One optimizer step over the next batch; returns its numbers. A non-finite loss or gradient norm skips the
    /// update, counted and logged (see <see cref="NonFiniteGradientGuard"/>).
    /// </summary>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    public ClipStepLosses TrainStep()
    {
        using var scope = NewDisposeScope();
        double lr = schedule.At(Step);
        using var batch = loader.Next();
        var texts = batch.Indices.Select((index, slot) => captions.Draw(train.Records[index].Captions, Step, slot)).ToArray();
        var batchKeys = batch.Indices.Select(index => keys[index]).ToArray();
        var (inputIds, attention) = tokenizer.EncodeBatch(texts, ClipEvaluator.LongestPadding);   // [B, T]
        attention.Dispose();
        var falseNegatives = ClipContrastiveLoss.Mask(batchKeys, texts);                          // [B, B]

        optimizer.LearningRate = lr;
        optimizer.ZeroGrad();
        Tensor loss, text, image;                                                                 // [], [B, P], [B, P]
        if (share.IsWhole(config.BatchSize))
        {
            text = model.EncodeText(inputIds);
            image = model.EncodeImage(batch.Images);
            loss = ClipContrastiveLoss.Compute(image, text, model.LogitScale.exp(), falseNegatives);
        }
        else
        {
            // This rank's rows [s, s + c) through both towers, the whole batch's embeddings gathered from all ranks, and
            // the whole batch's loss with this rank's rows live (see ClipContrastiveLoss.ComputeOnShare).
            var textShare = model.EncodeText(inputIds.narrow(0, share.Start, share.Count));       // [c, P]
            var imageShare = model.EncodeImage(batch.Images.narrow(0, share.Start, share.Count)); // [c, P]
            text = parallel.AllGatherRows(textShare, config.BatchSize, $"text embeddings of step {Step + 1}");
            image = parallel.AllGatherRows(imageShare, config.BatchSize, $"image embeddings of step {Step + 1}");
            loss = ClipContrastiveLoss.ComputeOnShare(imageShare, textShare, image, text, share, parallel.Size, model.LogitScale.exp(), falseNegatives);
        }
        loss.backward();
        double lossValue = loss.item<float>();
        GradientAllReduce.Sum(optimizer.Parameters, parallel, $"gradients of step {Step + 1}");   // nothing with one process
        var norm = config.MaxGradNorm > 0
            ? GradientClipping.ClipByTotalNorm(optimizer.Parameters, config.MaxGradNorm)
            : GradientClipping.TotalNorm(optimizer.Parameters);
        bool skipped = gradientGuard.Skip(Step + 1, lossValue, norm, model.named_parameters(), log);
        if (!skipped) optimizer.Step();
        using (no_grad()) model.LogitScale.clamp_(Scalars.Of(0.0), Scalars.Of(config.MaxLogitScale));
        ema.Update();
        Step++;

        double accuracy;
        using (no_grad())
        {
            // similarity: [B, B], masked pairs excluded; a caption is right when its own image ranks first.
            var similarity = nn.functional.normalize(text, p: 2.0, dim: 1).matmul(nn.functional.normalize(image, p: 2.0, dim: 1).t())
                .masked_fill(falseNegatives, Scalars.Of(double.NegativeInfinity));
            using var batchSize = texts.Length.ToScalar();
            var labels = arange(Scalars.Of(0), batchSize, Scalars.One);                                   // [B] int64
            accuracy = similarity.argmax(1).eq(labels).to(ScalarType.Float64).mean().item<double>();
        }
        int masked = (int)falseNegatives.sum().item<long>();
        return new ClipStepLosses(lossValue, Math.Exp(model.LogitScale.item<float>()), accuracy, masked, norm.TotalNorm, lr, skipped);
    }

    /// <summary>Recall and zero-shot accuracy of the EMA weights on the validation pairs; logged.</summary>
    public ClipEvaluation Validate()
    {
        using (ema.SwapIntoModel())
            lastValidation = ClipEvaluator.Evaluate(model, tokenizer, validationSet, config.ZeroShotTemplate, EvalBatch);
        log.Append(new JsonObject
        {
            ["step"] = Step,
            ["val_t2i_r1"] = ClipTrainingLog.Number(lastValidation.TextToImageRecall1),
            ["val_t2i_r5"] = ClipTrainingLog.Number(lastValidation.TextToImageRecall5),
            ["val_i2t_r1"] = ClipTrainingLog.Number(lastValidation.ImageToTextRecall1),
            ["val_i2t_r5"] = ClipTrainingLog.Number(lastValidation.ImageToTextRecall5),
            ["val_zero_shot"] = lastValidation.ZeroShotAccuracy is { } z ? ClipTrainingLog.Number(z) : null,
            ["val_pairs"] = lastValidation.Pairs,
        });
        return lastValidation;
    }

    /// <summary>Writes a checkpoint of the current step.</summary>
    /// <remarks>With several ranks, rank 0 alone calls it.</remarks>
    public void SaveCheckpoint() => checkpoints.Save(State, Step, configJson);

    /// <summary>Writes OUT/text_encoder/ and OUT/image_encoder/ with the EMA weights (OUT/tokenizer/ is already there) and OUT/eval.json.</summary>
    /// <returns>OUT.</returns>
    public string Export()
    {
        using (ema.SwapIntoModel())
            ClipModelFolder.Save(model, OutDir);
        if (lastValidation is not null)
            Latent.Core.IO.AtomicFile.WriteAllText(Path.Combine(OutDir, EvalFileName), lastValidation.ToJson().ToJsonString(new() { WriteIndented = true }) + "\n");
        return OutDir;
    }

    /// <summary>Stops the loader and frees the model, optimizer, EMA and validation images.</summary>
    public void Dispose()
    {
        loader.Dispose();
        ema.Dispose();
        optimizer.Dispose();
        model.Dispose();
        validationSet.Dispose();
    }
}
