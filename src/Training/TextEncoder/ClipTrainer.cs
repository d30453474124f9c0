using System.Diagnostics;
using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Core.Training;
using Latent.TextEncoder.Evaluation;
using Latent.TextEncoder.Tokenization;
using Latent.TextEncoder.Captions;
using TorchSharp;
using static TorchSharp.torch;
using Latent.TextEncoder;

namespace Latent.Training.TextEncoder;

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
/// <para>A killed run resumed with <see cref="Trainer{TStep}.Resume"/> continues bit for bit where its last checkpoint stood: the data
/// order is the sampler's, the caption draws are a pure function of (seed, step, slot), and the global generator is in
/// the checkpoint. The trainer writes nothing to the console: it reports through <see cref="IProgress{T}"/>.</para>
/// <para>Data-parallel (<see cref="IDataParallel"/> with N ranks, docs/training/distributed.md): every rank draws and
/// tokenizes the whole global batch as one process does, encodes its share of the rows with both towers, all-gathers
/// the embeddings of the whole batch, and computes the same contrastive loss over it with its own rows live
/// (<see cref="ClipContrastiveLoss.ComputeOnShare"/>), so the ranks' gradients sum to one process's; they are summed
/// (<see cref="GradientAllReduce"/>) before the same clipped AdamW step on every rank. Rank 0 alone writes files and
/// validates.</para>
/// </remarks>
public sealed class ClipTrainer : Trainer<ClipStepLosses>
{
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
    readonly ClipEvalSet validationSet;
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
        : base(config, outDir, parallel, new ClipTrainingLog(outDir))
    {
        ArgumentNullException.ThrowIfNull(textConfig);
        ArgumentNullException.ThrowIfNull(imageConfig);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(train);
        textConfig.Validate();
        imageConfig.Validate();
        CheckTokenizer(textConfig, tokenizer);
        this.config = config;
        this.tokenizer = tokenizer;
        this.train = train;
        var imageFile = ClipImageEncoderConfig.From(imageConfig, textConfig.ProjectionDim);
        WriteRunFolder(new JsonObject
        {
            ["text"] = Json(textConfig),
            ["image"] = Json(imageFile),
            ["training"] = Json(config),
            ["tokenizer_vocab_size"] = tokenizer.VocabSize,
        }, (TextConfigFileName, textConfig), (ImageConfigFileName, imageFile));
        if (IsMain) tokenizer.SavePretrained(Path.Combine(OutDir, ClipModelFolder.TokenizerFolder));

        // 1. Model, seeded: the same seed gives the same initial weights; init_from's replace them in a fresh run.
        manual_seed((long)(config.Seed % long.MaxValue));
        model = new ClipModel(textConfig, imageConfig);
        if (config.InitFrom is { } init && IsFreshRun) LoadInitialWeights(init);
        GradientAllReduce.BroadcastFromRankZero(model.parameters(), Parallel);   // identical start on every rank
        model.train();
        var adamW = new AdamWConfig(config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);
        optimizer = new AdamWOptimizer(model.named_parameters(), adamW, AdamWOptimizer.DecayMatricesOnly);
        ema = new ExponentialMovingAverage(model.named_parameters(), new EmaConfig(Decay: config.EmaDecay, UseWarmup: true));

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
    }

    // Fine-tuning start: the folder's CLIP (both towers and logit_scale) replaces the seeded weights before the
    // optimizer and the EMA copy them. Same names and shapes, and the same text settings, or nothing is copied.
    void LoadInitialWeights(string folder)
    {
        const string name = "CLIP training config";
        InitFromCheck.RequireFiles(name, folder, "CLIP", ClipModelFolder.TextEncoderFolder + "/", ClipModelFolder.ImageEncoderFolder + "/");
        using ClipModel saved = ClipModelFolder.Load(folder);
        var mine = model.state_dict();
        var theirs = saved.state_dict();
        ClipTextConfig s = saved.TextConfig, r = model.TextConfig;
        var settings = (s.HiddenAct, s.LayerNormEps, s.BosTokenId, s.EosTokenId, s.PadTokenId) == (r.HiddenAct, r.LayerNormEps, r.BosTokenId, r.EosTokenId, r.PadTokenId)
            ? []
            : new[] { $"text hidden_act {s.HiddenAct}, layer_norm_eps {s.LayerNormEps}, bos/eos/pad {s.BosTokenId}/{s.EosTokenId}/{s.PadTokenId} " +
                      $"(run: {r.HiddenAct}, {r.LayerNormEps}, {r.BosTokenId}/{r.EosTokenId}/{r.PadTokenId})" };
        InitFromCheck.RequireSameArchitecture(name, folder, InitFromCheck.ShapeDifferences(theirs, mine).Concat(settings));
        using (no_grad())
            foreach (var (key, value) in mine) value.copy_(theirs[key]);
    }

    /// <summary>The model being trained (its live training weights).</summary>
    public ClipModel Model => model;

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

    /// <summary>The last validation, or null before the first.</summary>
    public ClipEvaluation? LastValidation => lastValidation;

    /// <inheritdoc />
    protected override TrainingState State => new() { Model = model, Optimizer = optimizer, Ema = ema, Sampler = loader.Sampler };

    /// <inheritdoc />
    protected override long? ValidationInterval => config.EvalInterval;

    /// <summary>
    /// Trains until the config's last step (or <paramref name="stopAfterStep"/>, or cancellation), validating, logging
    /// and checkpointing on the way (see <see cref="Trainer{TStep}.Train"/>); a completed run also exports the EMA weights.
    /// </summary>
    /// <param name="progress">Receives a report after every step and event (called on the training thread).</param>
    /// <param name="stopAfterStep">Stop (with a checkpoint) after this many completed steps; null: the config's total.</param>
    /// <param name="cancellation">Stops after the current step (with a checkpoint).</param>
    /// <exception cref="NonFiniteGradientException">Too many steps in a row had a non-finite loss or gradient norm.</exception>
    public ClipTrainingResult Run(IProgress<TrainingProgress<ClipStepLosses>>? progress = null, long? stopAfterStep = null, CancellationToken cancellation = default)
    {
        if (!Train(progress, stopAfterStep, cancellation)) return new ClipTrainingResult(Step, false, lastValidation, null);
        if (!IsMain) return new ClipTrainingResult(Step, true, null, null);   // rank 0 validates and exports
        return new ClipTrainingResult(Step, true, lastValidation, Export());
    }

    /// <inheritdoc />
    protected override IEnumerable<(string Key, JsonNode? Value)> LogValues(IReadOnlyList<ClipStepLosses> steps) =>
    [
        ("loss", Mean(steps, l => l.Loss)), ("logit_scale", Mean(steps, l => l.LogitScale)), ("batch_acc", Mean(steps, l => l.BatchAccuracy)),
        ("masked_pairs", Mean(steps, l => l.MaskedPairs)), ("grad_norm", MeanGradNorm(steps)), ("lr", TrainingLog.Number(steps[^1].LearningRate)),
    ];

    /// <summary>
    /// One optimizer step over the next batch; returns its numbers. A non-finite loss or gradient norm skips the
    /// update, counted and logged (see <see cref="NonFiniteGradientGuard"/>).
    /// </summary>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    public override ClipStepLosses TrainStep()
    {
        using var scope = NewDisposeScope();
        double lr = Schedule.At(Step);
        using var batch = loader.Next();
        var texts = batch.Indices.Select((index, slot) => captions.Draw(train.Records[index].Captions, Step, slot)).ToArray();
        var batchKeys = batch.Indices.Select(index => keys[index]).ToArray();
        var (inputIds, attention) = tokenizer.EncodeBatch(texts, ClipEvaluator.LongestPadding);   // [B, T]
        attention.Dispose();
        var falseNegatives = ClipContrastiveLoss.Mask(batchKeys, texts);                          // [B, B]

        optimizer.LearningRate = lr;
        optimizer.ZeroGrad();
        Tensor loss, text, image;                                                                 // [], [B, P], [B, P]
        if (Share.IsWhole(config.BatchSize))
        {
            text = model.EncodeText(inputIds);
            image = model.EncodeImage(batch.Images);
            loss = ClipContrastiveLoss.Compute(image, text, model.LogitScale.exp(), falseNegatives);
        }
        else
        {
            // This rank's rows [s, s + c) through both towers, the whole batch's embeddings gathered from all ranks, and
            // the whole batch's loss with this rank's rows live (see ClipContrastiveLoss.ComputeOnShare).
            var textShare = model.EncodeText(inputIds.narrow(0, Share.Start, Share.Count));       // [c, P]
            var imageShare = model.EncodeImage(batch.Images.narrow(0, Share.Start, Share.Count)); // [c, P]
            text = Parallel.AllGatherRows(textShare, config.BatchSize, $"text embeddings of step {Step + 1}");
            image = Parallel.AllGatherRows(imageShare, config.BatchSize, $"image embeddings of step {Step + 1}");
            loss = ClipContrastiveLoss.ComputeOnShare(imageShare, textShare, image, text, Share, Parallel.Size, model.LogitScale.exp(), falseNegatives);
        }
        loss.backward();
        double lossValue = loss.item<float>();
        GradientAllReduce.Sum(optimizer.Parameters, Parallel, $"gradients of step {Step + 1}");   // nothing with one process
        var (norm, skipped) = ClipAndStep(optimizer, lossValue, model.named_parameters());
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

    /// <inheritdoc />
    protected override void RunValidation() => Validate();

    /// <summary>Recall and zero-shot accuracy of the EMA weights on the validation pairs; logged.</summary>
    public ClipEvaluation Validate()
    {
        using (ema.SwapIntoModel())
            lastValidation = ClipEvaluator.Evaluate(model, tokenizer, validationSet, config.ZeroShotTemplate, EvalBatch);
        Log.Append(new JsonObject
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
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
        loader.Dispose();
        ema.Dispose();
        optimizer.Dispose();
        model.Dispose();
        validationSet.Dispose();
    }
}
