using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Core.Training;
using Latent.Vae.Evaluation;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Vae.Training;

/// <summary>
/// Trains an <see cref="AutoencoderKL"/> from scratch on an image folder: L1/L2 + KL, an optional PatchGAN from a given
/// step (see <see cref="VaeTrainingConfig"/>), AdamW with warm-up + cosine, clipping, EMA, periodic validation, grids and
/// atomic checkpoints, and at the end the measured scaling factor and a diffusers <c>vae/</c> folder of the EMA weights.
/// </summary>
/// <remarks>
/// <para>The run folder OUT holds <c>training_config.json</c>, <c>model_config.json</c>, <c>log.jsonl</c>,
/// <c>checkpoints/</c> (the VAE, its EMA and optimizer, the data position and RNG; the discriminator and its optimizer in
/// <c>checkpoints/discriminator/</c>, written first), <c>samples/step-NNNNNN.png</c> and finally <c>vae/</c>.</para>
/// <para>A killed run resumed with <see cref="Resume"/> continues bit for bit where its last checkpoint stood. The
/// trainer writes nothing to the console: it reports through <see cref="IProgress{T}"/>.</para>
/// </remarks>
public sealed class VaeTrainer : IDisposable
{
    /// <summary>The training config's file name in OUT.</summary>
    public const string TrainingConfigFileName = "training_config.json";

    /// <summary>The model config's file name in OUT (diffusers' <c>config.json</c> of the VAE being trained).</summary>
    public const string ModelConfigFileName = "model_config.json";

    /// <summary>The exported model's folder in OUT.</summary>
    public const string ExportFolderName = "vae";

    const string PosteriorGenerator = "posterior";
    const int EvalBatch = 32;

    readonly VaeTrainingConfig config;
    readonly AutoencoderKL vae;
    readonly NLayerDiscriminator? discriminator;
    readonly AdamWOptimizer optimizer;
    readonly AdamWOptimizer? discriminatorOptimizer;
    readonly ExponentialMovingAverage ema;
    readonly ImageBatchLoader loader;
    readonly ImageFolderDataset train;
    readonly Generator posteriorGenerator;
    readonly CosineWarmupSchedule schedule;
    readonly CheckpointDirectory checkpoints;
    readonly CheckpointDirectory? discriminatorCheckpoints;
    readonly Tensor validationImages;
    readonly Parameter lastLayer;
    readonly string configJson;
    readonly VaeTrainingLog log;
    readonly IDataParallel parallel;
    readonly BatchShare share;
    readonly NonFiniteGradientGuard gradientGuard = new();
    VaeEvaluation? lastValidation;

    /// <summary>Builds the model (seeded), the optimizers, the EMA and the data loader, and writes the configs to OUT.</summary>
    /// <param name="modelConfig">The VAE to train (e.g. <see cref="VaeConfig.Light"/>); images are resized to its sample size.</param>
    /// <param name="config">The hyper-parameters; validated.</param>
    /// <param name="train">The training images.</param>
    /// <param name="validation">The validation images; null or empty: the first training images.</param>
    /// <param name="outDir">The run folder (created when missing).</param>
    /// <param name="parallel">The ranks of a data-parallel run; null: one process (<see cref="SingleProcess"/>).</param>
    /// <exception cref="ArgumentException">A config value is out of range.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The batch is smaller than the number of ranks.</exception>
    public VaeTrainer(VaeConfig modelConfig, VaeTrainingConfig config, ImageFolderDataset train, ImageFolderDataset? validation, string outDir,
        IDataParallel? parallel = null)
    {
        ArgumentNullException.ThrowIfNull(modelConfig);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        modelConfig.Validate();
        config.Validate();
        if (config.HasDiscriminator && NLayerDiscriminator.OutputSize(modelConfig.SampleSize, config.DiscriminatorLayers) < 1)
            throw new ArgumentException(
                $"VAE training config: discriminator_layers is {config.DiscriminatorLayers}, too deep for {modelConfig.SampleSize}px images " +
                "(no patch is left); expected fewer layers or a larger sample_size.", nameof(config));
        this.parallel = parallel ?? SingleProcess.Instance;
        share = BatchShare.Of(config.BatchSize, this.parallel);
        this.config = config;
        this.train = train;
        OutDir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(OutDir);
        if (IsMain)
        {
            ConfigFile.Write(Path.Combine(OutDir, TrainingConfigFileName), config);
            ConfigFile.Write(Path.Combine(OutDir, ModelConfigFileName), modelConfig);
        }
        configJson = new JsonObject
        {
            ["model"] = JsonNode.Parse(ConfigFile.ToJsonText(modelConfig)),
            ["training"] = JsonNode.Parse(ConfigFile.ToJsonText(config)),
        }.ToJsonString();

        // 1. Models, seeded: the same seed gives the same initial weights. A run folder with checkpoints is about to be
        //    resumed, and the checkpoint replaces init_from's weights, so init_from is only read for a fresh run.
        checkpoints = new CheckpointDirectory(Path.Combine(OutDir, "checkpoints"), config.KeepCheckpoints);
        manual_seed((long)(config.Seed % long.MaxValue));
        vae = new AutoencoderKL(modelConfig);
        if (config.InitFrom is { } init && checkpoints.Latest() is null) LoadInitialWeights(init, modelConfig);
        GradientAllReduce.BroadcastFromRankZero(vae.parameters(), this.parallel);   // identical start on every rank
        vae.train();
        lastLayer = vae.named_parameters().Single(np => np.name == "decoder.conv_out.weight").parameter;
        var adamW = new AdamWConfig(config.LearningRate, config.Beta1, config.Beta2, WeightDecay: config.WeightDecay);
        optimizer = new AdamWOptimizer(vae.named_parameters(), adamW, AdamWOptimizer.DecayMatricesOnly);
        ema = new ExponentialMovingAverage(vae.named_parameters(), new EmaConfig(Decay: config.EmaDecay, UseWarmup: true));
        if (config.HasDiscriminator)
        {
            discriminator = new NLayerDiscriminator(modelConfig.OutChannels, config.DiscriminatorChannels, config.DiscriminatorLayers);
            GradientAllReduce.BroadcastFromRankZero(discriminator.parameters(), this.parallel);
            discriminator.train();
            discriminatorOptimizer = new AdamWOptimizer(discriminator.named_parameters(), adamW, AdamWOptimizer.DecayMatricesOnly);
        }
        posteriorGenerator = new Generator(config.Seed);
        schedule = new CosineWarmupSchedule(config.LearningRate, config.WarmupSteps, config.Steps, config.MinLearningRateRatio);

        // 2. Data: shuffled, flipped and prefetched training batches; a fixed validation tensor.
        var size = new ImageSize(modelConfig.SampleSize, modelConfig.SampleSize);
        loader = new ImageBatchLoader(train, new ImageLoaderOptions
        {
            BatchSize = config.BatchSize,
            Seed = config.Seed,
            Size = size,
            Augment = config.Augment,
            Captions = CaptionChoice.First,
        });
        var evalSource = validation is { Count: > 0 } ? validation : train;
        validationImages = VaeEvaluator.LoadImages(evalSource, size, config.EvalImages).DetachFromDisposeScope();

        // 3. Run folder.
        if (discriminator is not null)
            discriminatorCheckpoints = new CheckpointDirectory(Path.Combine(checkpoints.Directory, "discriminator"), config.KeepCheckpoints);
        log = new VaeTrainingLog(OutDir) { Muted = !IsMain };
    }

    bool IsMain => parallel.Rank == 0;

    /// <summary>The run folder.</summary>
    public string OutDir { get; }

    // Fine-tuning start: the folder's weights replace the seeded ones (strictly), before the optimizer and EMA copy them.
    void LoadInitialWeights(string folder, VaeConfig modelConfig)
    {
        string configPath = Path.Combine(folder, "config.json");
        string weightsPath = Path.Combine(folder, AutoencoderKL.WeightsFileName);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new FileNotFoundException(
                $"VAE training config: init_from '{Path.GetFullPath(folder)}' is not a VAE folder; expected config.json and {AutoencoderKL.WeightsFileName} in it.");
        var saved = ConfigFile.Read<VaeConfig>(configPath, VaeConfig.ClassNameValue).Config;
        bool same = saved.BlockOutChannels.SequenceEqual(modelConfig.BlockOutChannels) && saved.LayersPerBlock == modelConfig.LayersPerBlock
                    && saved.LatentChannels == modelConfig.LatentChannels && saved.SampleSize == modelConfig.SampleSize
                    && saved.NormNumGroups == modelConfig.NormNumGroups && saved.InChannels == modelConfig.InChannels
                    && saved.OutChannels == modelConfig.OutChannels;
        if (!same)
            throw new ArgumentException(
                $"VAE training config: init_from '{Path.GetFullPath(folder)}' holds another architecture ({Describe(saved)}); " +
                $"expected the run's model ({Describe(modelConfig)}).");
        StateDictLoader.LoadFile(vae, weightsPath);
    }

    static string Describe(VaeConfig c) =>
        $"block_out_channels [{string.Join(", ", c.BlockOutChannels)}], layers_per_block {c.LayersPerBlock}, latent_channels {c.LatentChannels}, " +
        $"sample_size {c.SampleSize}, norm_num_groups {c.NormNumGroups}, in/out channels {c.InChannels}/{c.OutChannels}";

    /// <summary>Completed optimizer steps.</summary>
    public long Step { get; private set; }

    /// <summary>The model being trained (its live training weights).</summary>
    public AutoencoderKL Model => vae;

    /// <summary>The EMA of the weights (what validation, grids and the export use).</summary>
    public ExponentialMovingAverage Ema => ema;

    /// <summary>The discriminator, or null when the run has none.</summary>
    public NLayerDiscriminator? Discriminator => discriminator;

    /// <summary>Steps whose update was skipped for a non-finite loss or gradient norm, in this process.</summary>
    public long SkippedSteps => gradientGuard.SkippedSteps;

    /// <summary>Number of validation images.</summary>
    public int ValidationCount => (int)validationImages.shape[0];

    TrainingState State => new()
    {
        Model = vae,
        Optimizer = optimizer,
        Ema = ema,
        Sampler = loader.Sampler,
        Generators = new Dictionary<string, Generator> { [PosteriorGenerator] = posteriorGenerator },
    };

    TrainingState? DiscriminatorState => discriminator is null ? null : new()
    {
        Model = discriminator,
        Optimizer = discriminatorOptimizer!,
        Sampler = loader.Sampler,
        Generators = new Dictionary<string, Generator> { [PosteriorGenerator] = posteriorGenerator },
    };

    /// <summary>After <c>Resume</c>: one message per newer checkpoint that could not be read and was skipped (newest first).</summary>
    public IReadOnlyList<string> ResumeSkipped { get; private set; } = [];

    /// <summary>
    /// Loads the newest checkpoint of OUT (and the discriminator's of the same step), so that <see cref="Run"/>
    /// continues exactly where it was saved; log entries after it are dropped.
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
                $"({TrainingConfigFileName}, {ModelConfigFileName}) or use a new --out folder");
        if (discriminatorCheckpoints is not null)
            TrainingCheckpoint.Load(discriminatorCheckpoints.PathFor(info.Step), DiscriminatorState!);
        TrainingCheckpoint.Load(latest, State);
        Step = info.Step;
        log.TruncateAfter(Step);
        return Step;
    }

    /// <summary>
    /// Trains until the config's last step (or <paramref name="stopAfterStep"/>, or cancellation), validating, drawing
    /// grids, logging and checkpointing on the way, then saves a checkpoint; a completed run also exports <c>vae/</c>.
    /// </summary>
    /// <param name="progress">Receives a report after every step and event (called on the training thread).</param>
    /// <param name="stopAfterStep">Stop (with a checkpoint) after this many completed steps; null: the config's total.</param>
    /// <param name="cancellation">Stops after the current step, with a checkpoint (a clean Ctrl+C).</param>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm (no checkpoint is written; the last one stands).</exception>
    public VaeTrainingResult Run(IProgress<VaeTrainingProgress>? progress = null, long? stopAfterStep = null, CancellationToken cancellation = default)
    {
        long stop = Math.Min(stopAfterStep ?? config.Steps, config.Steps);
        var sums = new double[8];
        int summed = 0, skipped = 0;
        var clock = new StepClock();
        VaeStepLosses? last = null;
        long checkpointed = -1;
        void Report(VaeTrainingPhase phase)
        {
            progress?.Report(new VaeTrainingProgress(Step, config.Steps, phase, last, clock.StepsPerSecond, clock.Eta(config.Steps - Step), lastValidation,
                gradientGuard.SkippedSteps));
        }

        while (Step < stop && !StopRequested(cancellation))
        {
            last = clock.Time(TrainStep);
            Accumulate(sums, last);
            summed++;
            if (last.Skipped) skipped++;
            Report(VaeTrainingPhase.Training);

            if (Step % config.LogInterval == 0)
            {
                LogLosses(sums, summed, skipped, clock.SecondsPerStep);
                Array.Clear(sums);
                summed = skipped = 0;
            }
            if (config.EvalInterval > 0 && Step % config.EvalInterval == 0 && IsMain)
            {
                Validate();
                Report(VaeTrainingPhase.Validated);
            }
            if (config.GridInterval > 0 && Step % config.GridInterval == 0 && IsMain) SaveGrid();
            if (config.CheckpointInterval > 0 && Step % config.CheckpointInterval == 0)
            {
                if (IsMain) SaveCheckpoint();
                checkpointed = Step;
                Report(VaeTrainingPhase.Checkpointed);
            }
        }
        if (checkpointed != Step)
        {
            if (IsMain) SaveCheckpoint();
            Report(VaeTrainingPhase.Checkpointed);
        }
        if (Step < config.Steps) return new VaeTrainingResult(Step, false, lastValidation, null, null);
        if (!IsMain) return new VaeTrainingResult(Step, true, null, null, null);   // rank 0 validates and exports

        // The end: validation and grid of the final EMA weights, charts, scaling factor and export.
        if (config.EvalInterval == 0 || Step % config.EvalInterval != 0) Validate();
        if (config.GridInterval == 0 || Step % config.GridInterval != 0) SaveGrid();
        Report(VaeTrainingPhase.Exporting);
        log.SaveCharts();
        var (scaling, exportDir) = Export();
        return new VaeTrainingResult(Step, true, lastValidation, scaling, exportDir);
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
    /// One optimizer step of the VAE (and of the discriminator once it has started); returns its losses. A non-finite loss or
    /// gradient norm skips the VAE's update, counted and logged (see <see cref="NonFiniteGradientGuard"/>).
    /// </summary>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    public VaeStepLosses TrainStep()
    {
        using var scope = NewDisposeScope();
        double lr = schedule.At(Step);
        bool gan = discriminator is not null && Step >= config.DiscriminatorStart;
        using var batch = loader.Next();
        var x = batch.Images;                                             // [B, 3, H, W] in [-1, 1]

        // 1. The VAE: rec + kl_weight * KL (+ λ * weight * g once the GAN is on). With N ranks (docs/training/distributed.md)
        //    this rank encodes and decodes its share of rows [s, s + c) only; rec and KL are its rows' part of the batch
        //    means (share mean · c / B, summing over the ranks to the batch's), the posterior noise is drawn for the whole
        //    batch (the generator stays that of one process), and the GAN terms run the discriminator on the whole batch
        //    of reconstructions, gathered, with this rank's rows live: its BatchNorm sees the batch of one process.
        bool whole = share.IsWhole(config.BatchSize);
        Tensor Rows(Tensor t) => whole ? t : t.narrow(0, share.Start, share.Count);   // [B, ...] -> [c, ...]
        optimizer.LearningRate = lr;
        optimizer.ZeroGrad();
        SetRequiresGrad(discriminator, false);                            // D is a fixed critic in this pass
        using var posterior = vae.Encode(Rows(x));
        Tensor z;                                                         // [c, latent, h, w]
        if (whole) z = posterior.Sample(posteriorGenerator);
        else
        {
            var noise = randn([config.BatchSize, .. posterior.Mean.shape.Skip(1)], dtype: posterior.Mean.dtype, generator: posteriorGenerator);
            z = posterior.Sample(Rows(noise));
        }
        var reconstruction = vae.Decode(z);                               // [c, 3, H, W]
        var rec = VaeLoss.Reconstruction(Rows(x), reconstruction, config.ReconstructionLoss);
        var kl = VaeLoss.Kl(posterior, x.shape[1] * x.shape[2] * x.shape[3]);
        if (!whole)
        {
            using var part = ((double)share.Count / config.BatchSize).ToScalar();
            rec = rec.mul(part);
            kl = kl.mul(part);
        }
        var loss = rec.add(Scalars.Of(config.KlWeight) * kl, Scalars.One);
        double generatorValue = 0, discriminatorValue = 0, ganWeight = 0;
        Tensor? reconstructions = null;                                   // [B, 3, H, W], no gradient: the whole batch's
        if (gan)
        {
            Tensor fakes = reconstruction;                                // [B, 3, H, W], this rank's rows live
            if (!whole)
            {
                reconstructions = parallel.AllGatherRows(reconstruction, config.BatchSize, $"reconstructions of step {Step + 1}");
                fakes = cat([reconstructions.narrow(0, 0, share.Start), reconstruction,
                    reconstructions.narrow(0, share.Start + share.Count, config.BatchSize - share.Start - share.Count)], 0);
            }
            var g = VaeLoss.Generator(discriminator!.forward(fakes));
            ganWeight = VaeLoss.AdaptiveWeight(rec, g, lastLayer, parallel, $"the adaptive weight's gradients of step {Step + 1}") * config.DiscriminatorWeight;
            using var lambda = ganWeight.ToScalar();
            loss = loss.add(lambda * g, Scalars.One);
            generatorValue = g.item<float>();
        }
        loss.backward();
        double lossValue = loss.item<float>(), recValue = rec.item<float>(), klValue = kl.item<float>();
        if (!whole)
        {
            // Sums over the ranks: the gradients, and rec and KL (g is the whole batch's on every rank already).
            GradientAllReduce.Sum(optimizer.Parameters, parallel, $"gradients of step {Step + 1}");
            using var values = tensor(new[] { (float)recValue, (float)klValue });
            parallel.AllReduceSum(values, $"the losses of step {Step + 1}");
            var summed = values.data<float>().ToArray();
            (recValue, klValue) = (summed[0], summed[1]);
            lossValue = (float)(recValue + config.KlWeight * klValue + ganWeight * generatorValue);
        }
        var norm = config.MaxGradNorm > 0
            ? GradientClipping.ClipByTotalNorm(optimizer.Parameters, config.MaxGradNorm)
            : GradientClipping.TotalNorm(optimizer.Parameters);
        bool skipped = gradientGuard.Skip(Step + 1, lossValue, norm, vae.named_parameters(), log);
        if (!skipped) optimizer.Step();
        ema.Update();

        // 2. The discriminator: hinge loss on real images and this step's (detached) reconstructions. With N ranks every
        //    rank runs it on the whole batch (the real images and the gathered reconstructions): the same loss, gradient
        //    and step on every rank, with nothing to sum, and BatchNorm's statistics those of one process.
        if (gan)
        {
            SetRequiresGrad(discriminator, true);
            discriminatorOptimizer!.LearningRate = lr;
            discriminatorOptimizer.ZeroGrad();
            var dLoss = VaeLoss.DiscriminatorHinge(discriminator!.forward(x), discriminator.forward((reconstructions ?? reconstruction).detach()));
            dLoss.backward();
            discriminatorOptimizer.Step();
            discriminatorValue = dLoss.item<float>();
        }
        Step++;
        return new VaeStepLosses(lossValue, recValue, klValue, generatorValue, discriminatorValue,
            ganWeight, norm.TotalNorm, lr, skipped);
    }

    /// <summary>PSNR and SSIM of the EMA weights on the validation images; logged.</summary>
    public VaeEvaluation Validate()
    {
        using (ema.SwapIntoModel())
            lastValidation = VaeEvaluator.Evaluate(vae, validationImages, EvalBatch);
        log.Append(new JsonObject
        {
            ["step"] = Step,
            ["val_psnr"] = VaeTrainingLog.Number(lastValidation.Psnr),
            ["val_ssim"] = VaeTrainingLog.Number(lastValidation.Ssim),
            ["val_images"] = lastValidation.Images,
        });
        return lastValidation;
    }

    /// <summary>Writes <c>samples/step-NNNNNN.png</c>: 8 validation images above their EMA reconstructions.</summary>
    public string SaveGrid()
    {
        string path = Path.Combine(OutDir, "samples", $"step-{Step.ToString("D6", CultureInfo.InvariantCulture)}.png");
        using (ema.SwapIntoModel())
            VaeEvaluator.SaveGrid(vae, validationImages, path);
        return path;
    }

    /// <summary>Writes a checkpoint of the current step (the discriminator's first, then the VAE's).</summary>
    public void SaveCheckpoint()
    {
        if (discriminatorCheckpoints is not null) discriminatorCheckpoints.Save(DiscriminatorState!, Step, configJson);
        checkpoints.Save(State, Step, configJson);
    }

    /// <summary>
    /// Measures the scaling factor with the EMA weights (1 / std of sampled latents of the first
    /// <see cref="VaeTrainingConfig.ScalingSamples"/> training images) and writes OUT/vae/ with it.
    /// </summary>
    /// <returns>The factor and the folder written.</returns>
    public (double ScalingFactor, string Directory) Export()
    {
        string dir = Path.Combine(OutDir, ExportFolderName);
        using (ema.SwapIntoModel())
        {
            using var images = VaeEvaluator.LoadImages(train, new ImageSize(vae.Config.SampleSize, vae.Config.SampleSize), config.ScalingSamples);
            using var generator = new Generator(config.Seed);
            double scaling = VaeEvaluator.MeasureScalingFactor(vae, images, generator, EvalBatch);
            using var exported = new AutoencoderKL(vae.Config with { ScalingFactor = scaling });
            using (no_grad())
            {
                var source = vae.state_dict();
                foreach (var (key, tensor) in exported.state_dict()) tensor.copy_(source[key]);
            }
            exported.SavePretrained(dir, config.ExportPrecision.ToScalarType());
            return (scaling, dir);
        }
    }

    // The interval's averages; grad_norm over its updated steps only (null when all were skipped), "skipped" counts the others.
    void LogLosses(double[] sums, int count, int skipped, double secondsPerStep)
    {
        string[] keys = ["loss", "rec", "kl", "g", "d", "gan_weight", "grad_norm", "lr"];
        var entry = new JsonObject { ["step"] = Step };
        for (int i = 0; i < keys.Length; i++) entry[keys[i]] = VaeTrainingLog.Number(sums[i] / (keys[i] == "grad_norm" ? count - skipped : count));
        entry["skipped"] = skipped;
        entry["sec_per_step"] = VaeTrainingLog.Number(secondsPerStep);
        log.Append(entry);
    }

    static void Accumulate(double[] sums, VaeStepLosses l)
    {
        double[] values = [l.Loss, l.Reconstruction, l.Kl, l.Generator, l.Discriminator, l.AdaptiveWeight, l.Skipped ? 0 : l.GradNorm, l.LearningRate];
        for (int i = 0; i < values.Length; i++) sums[i] += values[i];
    }

    static void SetRequiresGrad(nn.Module? module, bool value)
    {
        if (module is null) return;
        foreach (var p in module.parameters()) p.requires_grad = value;
    }

    /// <summary>Stops the loader and frees the models, optimizers, EMA and tensors.</summary>
    public void Dispose()
    {
        loader.Dispose();
        ema.Dispose();
        optimizer.Dispose();
        discriminatorOptimizer?.Dispose();
        discriminator?.Dispose();
        vae.Dispose();
        validationImages.Dispose();
        posteriorGenerator.Dispose();
    }
}
