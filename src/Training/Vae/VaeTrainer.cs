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
using Latent.Vae;

namespace Latent.Training.Vae;

/// <summary>
/// Trains an <see cref="AutoencoderKL"/> from scratch or from init_from's weights (with decoder_only, its decoder alone) on
/// an image folder: L1/L2 + KL, an optional PatchGAN from a given
/// step (see <see cref="VaeTrainingConfig"/>), AdamW with warm-up + cosine, clipping, EMA, periodic validation, grids and
/// atomic checkpoints, and at the end the measured scaling factor and a diffusers <c>vae/</c> folder of the EMA weights.
/// </summary>
/// <remarks>
/// <para>The run folder OUT holds <c>training_config.json</c>, <c>model_config.json</c>, <c>log.jsonl</c>,
/// <c>checkpoints/</c> (the VAE, its EMA and optimizer, the data position and RNG; the discriminator and its optimizer in
/// <c>checkpoints/discriminator/</c>, written first), <c>samples/step-NNNNNN.png</c> and finally <c>vae/</c>.</para>
/// <para>A killed run resumed with <see cref="Trainer{TStep}.Resume"/> continues bit for bit where its last checkpoint stood. The
/// trainer writes nothing to the console: it reports through <see cref="IProgress{T}"/>.</para>
/// </remarks>
public sealed class VaeTrainer : Trainer<VaeStepLosses>
{
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
    readonly CheckpointDirectory? discriminatorCheckpoints;
    readonly Tensor validationImages;
    readonly Parameter lastLayer;
    readonly IReadOnlyList<(string name, Parameter parameter)> trainable;
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
        IDataParallel? parallel = null) : base(config, outDir, parallel, new VaeTrainingLog(outDir))
    {
        ArgumentNullException.ThrowIfNull(modelConfig);
        ArgumentNullException.ThrowIfNull(train);
        modelConfig.Validate();
        if (config.HasDiscriminator && NLayerDiscriminator.OutputSize(modelConfig.SampleSize, config.DiscriminatorLayers) < 1)
            throw new ArgumentException(
                $"VAE training config: discriminator_layers is {config.DiscriminatorLayers}, too deep for {modelConfig.SampleSize}px images " +
                "(no patch is left); expected fewer layers or a larger sample_size.", nameof(config));
        this.config = config;
        this.train = train;
        WriteRunFolder(new JsonObject { ["model"] = Json(modelConfig), ["training"] = Json(config) }, (ModelConfigFileName, modelConfig));

        // 1. Models, seeded: the same seed gives the same initial weights; init_from's replace them in a fresh run.
        manual_seed((long)(config.Seed % long.MaxValue));
        vae = new AutoencoderKL(modelConfig);
        if (config.InitFrom is { } init && IsFreshRun) LoadInitialWeights(init, modelConfig);
        GradientAllReduce.BroadcastFromRankZero(vae.parameters(), Parallel);   // identical start on every rank
        vae.train();
        trainable = TrainableParameters(vae, config.DecoderOnly);
        lastLayer = vae.named_parameters().Single(np => np.name == "decoder.conv_out.weight").parameter;
        var adamW = new AdamWConfig(config.LearningRate, config.Beta1, config.Beta2, WeightDecay: config.WeightDecay);
        optimizer = new AdamWOptimizer(trainable, adamW, AdamWOptimizer.DecayMatricesOnly);
        ema = new ExponentialMovingAverage(trainable, new EmaConfig(Decay: config.EmaDecay, UseWarmup: true));
        if (config.HasDiscriminator)
        {
            discriminator = new NLayerDiscriminator(modelConfig.OutChannels, config.DiscriminatorChannels, config.DiscriminatorLayers);
            GradientAllReduce.BroadcastFromRankZero(discriminator.parameters(), Parallel);
            discriminator.train();
            discriminatorOptimizer = new AdamWOptimizer(discriminator.named_parameters(), adamW, AdamWOptimizer.DecayMatricesOnly);
            discriminatorCheckpoints = new CheckpointDirectory(Path.Combine(Checkpoints.Directory, "discriminator"), config.KeepCheckpoints);
        }
        posteriorGenerator = new Generator(config.Seed);

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
    }

    // Fine-tuning start: the folder's weights replace the seeded ones (strictly), before the optimizer and EMA copy them.
    // Its measured scaling_factor may differ: it does not change the weights.
    void LoadInitialWeights(string folder, VaeConfig modelConfig)
    {
        const string name = "VAE training config";
        InitFromCheck.RequireFiles(name, folder, "VAE", "config.json", AutoencoderKL.WeightsFileName);
        var saved = ConfigFile.Read<VaeConfig>(Path.Combine(folder, "config.json"), VaeConfig.ClassNameValue).Config;
        InitFromCheck.RequireSameArchitecture(name, folder, InitFromCheck.ConfigDifferences(saved, modelConfig, "scaling_factor"));
        StateDictLoader.LoadFile(vae, Path.Combine(folder, AutoencoderKL.WeightsFileName));
    }

    // Every parameter, or with decoder_only those of post_quant_conv and the decoder, the rest frozen (no gradient, no
    // optimizer state, no EMA): the encoder's latent space stays exactly init_from's.
    static IReadOnlyList<(string name, Parameter parameter)> TrainableParameters(AutoencoderKL vae, bool decoderOnly)
    {
        var all = vae.named_parameters().ToList();
        if (!decoderOnly) return all;
        static bool IsDecoder(string name) => name.StartsWith("decoder.", StringComparison.Ordinal) || name.StartsWith("post_quant_conv.", StringComparison.Ordinal);
        foreach (var (name, p) in all) if (!IsDecoder(name)) p.requires_grad = false;
        return all.Where(np => IsDecoder(np.name)).ToList();
    }

    /// <summary>The model being trained (its live training weights).</summary>
    public AutoencoderKL Model => vae;

    /// <summary>The EMA of the weights (what validation, grids and the export use).</summary>
    public ExponentialMovingAverage Ema => ema;

    /// <summary>The discriminator, or null when the run has none.</summary>
    public NLayerDiscriminator? Discriminator => discriminator;

    /// <summary>Number of validation images.</summary>
    public int ValidationCount => (int)validationImages.shape[0];

    /// <summary>The last validation, or null before the first.</summary>
    public VaeEvaluation? LastValidation => lastValidation;

    /// <inheritdoc />
    protected override TrainingState State => new()
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

    /// <inheritdoc />
    protected override long? ValidationInterval => config.EvalInterval;

    /// <inheritdoc />
    protected override long? SampleInterval => config.GridInterval;

    /// <summary>Loads the discriminator's checkpoint of the same step first, then the VAE's.</summary>
    protected override void LoadCheckpoint(string path, long step)
    {
        if (discriminatorCheckpoints is not null) TrainingCheckpoint.Load(discriminatorCheckpoints.PathFor(step), DiscriminatorState!);
        base.LoadCheckpoint(path, step);
    }

    /// <summary>
    /// Trains until the config's last step (or <paramref name="stopAfterStep"/>, or cancellation), validating, drawing
    /// grids, logging and checkpointing on the way (see <see cref="Trainer{TStep}.Train"/>); a completed run also
    /// measures the scaling factor and exports <c>vae/</c>.
    /// </summary>
    /// <param name="progress">Receives a report after every step and event (called on the training thread).</param>
    /// <param name="stopAfterStep">Stop (with a checkpoint) after this many completed steps; null: the config's total.</param>
    /// <param name="cancellation">Stops after the current step, with a checkpoint (a clean Ctrl+C).</param>
    /// <exception cref="NonFiniteGradientException">Too many steps in a row had a non-finite loss or gradient norm.</exception>
    public VaeTrainingResult Run(IProgress<TrainingProgress<VaeStepLosses>>? progress = null, long? stopAfterStep = null, CancellationToken cancellation = default)
    {
        if (!Train(progress, stopAfterStep, cancellation)) return new VaeTrainingResult(Step, false, lastValidation, null, null);
        if (!IsMain) return new VaeTrainingResult(Step, true, null, null, null);   // rank 0 validates and exports
        var (scaling, exportDir) = Export();
        return new VaeTrainingResult(Step, true, lastValidation, scaling, exportDir);
    }

    /// <summary>
    /// One optimizer step of the VAE (and of the discriminator once it has started); returns its losses. A non-finite loss or
    /// gradient norm skips the VAE's update, counted and logged (see <see cref="NonFiniteGradientGuard"/>).
    /// </summary>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    public override VaeStepLosses TrainStep()
    {
        using var scope = NewDisposeScope();
        double lr = Schedule.At(Step);
        bool gan = discriminator is not null && Step >= config.DiscriminatorStart;
        using var batch = loader.Next();
        var x = batch.Images;                                             // [B, 3, H, W] in [-1, 1]

        // 1. The VAE: rec + kl_weight * KL (+ λ * weight * g once the GAN is on). With N ranks (docs/training/distributed.md)
        //    this rank encodes and decodes its share of rows [s, s + c) only; rec and KL are its rows' part of the batch
        //    means (share mean · c / B, summing over the ranks to the batch's), the posterior noise is drawn for the whole
        //    batch (the generator stays that of one process), and the GAN terms run the discriminator on the whole batch
        //    of reconstructions, gathered, with this rank's rows live: its BatchNorm sees the batch of one process.
        bool whole = Share.IsWhole(config.BatchSize);
        Tensor Rows(Tensor t) => whole ? t : t.narrow(0, Share.Start, Share.Count);   // [B, ...] -> [c, ...]
        optimizer.LearningRate = lr;
        optimizer.ZeroGrad();
        SetRequiresGrad(discriminator, false);                            // D is a fixed critic in this pass
        using var posterior = EncodeForTraining(Rows(x));
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
            using var part = ((double)Share.Count / config.BatchSize).ToScalar();
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
                reconstructions = Parallel.AllGatherRows(reconstruction, config.BatchSize, $"reconstructions of step {Step + 1}");
                fakes = cat([reconstructions.narrow(0, 0, Share.Start), reconstruction,
                    reconstructions.narrow(0, Share.Start + Share.Count, config.BatchSize - Share.Start - Share.Count)], 0);
            }
            var g = VaeLoss.Generator(discriminator!.forward(fakes));
            ganWeight = VaeLoss.AdaptiveWeight(rec, g, lastLayer, Parallel, $"the adaptive weight's gradients of step {Step + 1}") * config.DiscriminatorWeight;
            using var lambda = ganWeight.ToScalar();
            loss = loss.add(lambda * g, Scalars.One);
            generatorValue = g.item<float>();
        }
        loss.backward();
        double lossValue = loss.item<float>(), recValue = rec.item<float>(), klValue = kl.item<float>();
        if (!whole)
        {
            // Sums over the ranks: the gradients, and rec and KL (g is the whole batch's on every rank already).
            GradientAllReduce.Sum(optimizer.Parameters, Parallel, $"gradients of step {Step + 1}");
            using var values = tensor(new[] { (float)recValue, (float)klValue });
            Parallel.AllReduceSum(values, $"the losses of step {Step + 1}");
            var summed = values.data<float>().ToArray();
            (recValue, klValue) = (summed[0], summed[1]);
            lossValue = (float)(recValue + config.KlWeight * klValue + ganWeight * generatorValue);
        }
        var (norm, skipped) = ClipAndStep(optimizer, lossValue, trainable);
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

    // The posterior of a batch; with decoder_only without a graph (the frozen encoder needs none, and its KL is a constant).
    DiagonalGaussianDistribution EncodeForTraining(Tensor x)
    {
        if (!config.DecoderOnly) return vae.Encode(x);
        using (no_grad()) return vae.Encode(x);
    }

    /// <summary>PSNR and SSIM of the EMA weights on the validation images; logged.</summary>
    public VaeEvaluation Validate()
    {
        using (ema.SwapIntoModel())
            lastValidation = VaeEvaluator.Evaluate(vae, validationImages, EvalBatch);
        Log.Append(new JsonObject
        {
            ["step"] = Step,
            ["val_psnr"] = VaeTrainingLog.Number(lastValidation.Psnr),
            ["val_ssim"] = VaeTrainingLog.Number(lastValidation.Ssim),
            ["val_images"] = lastValidation.Images,
        });
        return lastValidation;
    }

    /// <inheritdoc />
    protected override void RunValidation() => Validate();

    /// <inheritdoc />
    protected override string DrawSamples() => SaveGrid();

    /// <summary>Writes <c>samples/step-NNNNNN.png</c>: 8 validation images above their EMA reconstructions.</summary>
    public string SaveGrid()
    {
        string path = Path.Combine(OutDir, "samples", $"step-{Step.ToString("D6", CultureInfo.InvariantCulture)}.png");
        using (ema.SwapIntoModel())
            VaeEvaluator.SaveGrid(vae, validationImages, path);
        return path;
    }

    /// <summary>Writes a checkpoint of the current step (the discriminator's first, then the VAE's).</summary>
    public override void SaveCheckpoint()
    {
        discriminatorCheckpoints?.Save(DiscriminatorState!, Step, ConfigJson);
        base.SaveCheckpoint();
    }

    /// <summary>
    /// Measures the scaling factor with the EMA weights (1 / std of sampled latents of the first
    /// <see cref="VaeTrainingConfig.ScalingSamples"/> training images) and writes OUT/vae/ with it; a decoder-only run
    /// keeps init_from's factor, since its latents are init_from's and U-Nets were trained on them scaled by it.
    /// </summary>
    /// <returns>The factor and the folder written.</returns>
    public (double ScalingFactor, string Directory) Export()
    {
        string dir = Path.Combine(OutDir, ExportFolderName);
        using (ema.SwapIntoModel())
        {
            double scaling = config.DecoderOnly ? vae.Config.ScalingFactor : MeasureScalingFactor();
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

    // 1 / std of sampled latents of the first training images, with the weights in the model (the EMA's at export).
    double MeasureScalingFactor()
    {
        using var images = VaeEvaluator.LoadImages(train, new ImageSize(vae.Config.SampleSize, vae.Config.SampleSize), config.ScalingSamples);
        using var generator = new Generator(config.Seed);
        return VaeEvaluator.MeasureScalingFactor(vae, images, generator, EvalBatch);
    }

    /// <inheritdoc />
    protected override IEnumerable<(string Key, JsonNode? Value)> LogValues(IReadOnlyList<VaeStepLosses> steps) =>
    [
        ("loss", Mean(steps, l => l.Loss)), ("rec", Mean(steps, l => l.Reconstruction)), ("kl", Mean(steps, l => l.Kl)),
        ("g", Mean(steps, l => l.Generator)), ("d", Mean(steps, l => l.Discriminator)), ("gan_weight", Mean(steps, l => l.AdaptiveWeight)),
        ("grad_norm", MeanGradNorm(steps)), ("lr", Mean(steps, l => l.LearningRate)),
    ];

    static void SetRequiresGrad(nn.Module? module, bool value)
    {
        if (module is null) return;
        foreach (var p in module.parameters()) p.requires_grad = value;
    }

    /// <summary>Stops the loader and frees the models, optimizers, EMA and tensors.</summary>
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
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
