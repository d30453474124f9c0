using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.Core.Training;
using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.UNet;

/// <summary>
/// Trains a text-conditioned <see cref="UNet2DConditionModel"/> from scratch on cached VAE latents and text states
/// (<see cref="LatentCache"/>): caption dropout, ε- or v-prediction with optional min-SNR-γ weights and noise offset,
/// AdamW with warm-up + cosine, clipping, EMA, periodic sample grids and atomic checkpoints, and at the end a complete
/// diffusers pipeline folder. The objective is written out in <see cref="UNetTrainingConfig"/>.
/// </summary>
/// <remarks>
/// <para>The run folder OUT holds <c>training_config.json</c>, <c>model_config.json</c> (the U-Net's), <c>log.jsonl</c>,
/// <c>checkpoints/</c> (U-Net, EMA, optimizer, data position and RNG), <c>samples/step-NNNNNN.png</c>, and at the end
/// <c>unet/</c> (EMA weights), <c>scheduler/</c>, copies of <c>vae/</c>, <c>text_encoder/</c>, <c>tokenizer/</c> and
/// <c>model_index.json</c>, so OUT loads as a <c>StableDiffusionPipeline</c>.</para>
/// <para>Every random draw of a step comes from one seeded generator in a fixed order (caption dropout, posterior sample,
/// noise, timesteps), saved in checkpoints: a run resumed with <see cref="Trainer{TStep}.Resume"/> continues bit for bit. The trainer
/// writes nothing to the console; it reports through <see cref="IProgress{T}"/>. It does not own the frozen models or
/// the cache.</para>
/// <para>Data-parallel (<see cref="IDataParallel"/> with N ranks, docs/training/distributed.md): every rank draws the
/// whole global batch and its random numbers as one process would, runs the U-Net on its <see cref="BatchShare"/>, and
/// the gradients are summed over the ranks (<see cref="GradientAllReduce"/>) before clipping and identical AdamW and EMA
/// updates on every rank. Rank 0 alone writes configs, the log, grids, checkpoints and the export; checkpoints hold the
/// global state, so a run resumes with any N.</para>
/// </remarks>
public sealed class UNetTrainer : Trainer<UNetStepResult>
{
    /// <summary>The U-Net config's file name in OUT (diffusers' <c>config.json</c> of the model being trained).</summary>
    public const string ModelConfigFileName = "model_config.json";

    /// <summary>The diffusers version written into exported configs (the one every config we write names).</summary>
    public const string DiffusersVersion = AutoencoderKL.DiffusersVersion;

    const string NoiseGenerator = "noise";

    readonly UNetTrainingConfig config;
    readonly LatentCache cache;
    readonly AutoencoderKL vae;
    readonly ClipTextModel textEncoder;
    readonly ClipTokenizer tokenizer;
    readonly UNet2DConditionModel unet;
    readonly AdamWOptimizer optimizer;
    readonly ExponentialMovingAverage ema;
    readonly CaptionedSampler sampler;
    readonly Generator noise;
    readonly NoiseSchedule noiseSchedule;
    readonly BFloat16Compute<UNet2DConditionModel>? bf16;   // mixed_precision bf16: computes for the float32 unet

    /// <summary>Builds the U-Net (seeded), the optimizer, the EMA and the data order, and writes the configs to OUT.</summary>
    /// <param name="modelConfig">The U-Net to train (e.g. <see cref="UNetConfig.Default"/>); must fit the cache's latents and text states.</param>
    /// <param name="config">The hyper-parameters; validated.</param>
    /// <param name="cache">The cached latents and text states of the training data.</param>
    /// <param name="vae">The frozen VAE (sample grids decode with it; copied into OUT at the end).</param>
    /// <param name="textEncoder">The frozen text encoder (sample grids; copied into OUT).</param>
    /// <param name="tokenizer">Its tokenizer (sample grids; copied into OUT).</param>
    /// <param name="outDir">The run folder (created when missing).</param>
    /// <param name="parallel">The ranks of a data-parallel run; null: one process (<see cref="SingleProcess"/>).</param>
    /// <exception cref="ArgumentException">A config value is out of range, the U-Net does not fit the cache, or the batch
    /// is smaller than the number of ranks.</exception>
    public UNetTrainer(UNetConfig modelConfig, UNetTrainingConfig config, LatentCache cache, AutoencoderKL vae,
        ClipTextModel textEncoder, ClipTokenizer tokenizer, string outDir, IDataParallel? parallel = null)
        : base(config, outDir, parallel, new UNetTrainingLog(outDir))
    {
        ArgumentNullException.ThrowIfNull(modelConfig);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(textEncoder);
        ArgumentNullException.ThrowIfNull(tokenizer);
        modelConfig.Validate();
        CheckFits(modelConfig, cache, LearnedVarianceTraining.OutChannels(config, cache.LatentShape[0]));
        this.config = config;
        this.cache = cache;
        this.vae = vae;
        this.textEncoder = textEncoder;
        this.tokenizer = tokenizer;
        var named = modelConfig with { ClassName = UNetConfig.ClassNameValue };
        WriteRunFolder(new JsonObject
        {
            ["model"] = Json(named),
            ["training"] = Json(config),
            ["data"] = new JsonObject { ["images"] = cache.Count, ["captions"] = cache.Captions.Count },
        }, (ModelConfigFileName, named));

        // 1. The model, seeded: the same seed gives the same initial weights; init_from's replace them in a fresh run.
        manual_seed((long)(config.Seed % long.MaxValue));
        unet = new UNet2DConditionModel(modelConfig);
        if (config.InitFrom is { } init && IsFreshRun) LoadInitialWeights(init, named, config);
        GradientAllReduce.BroadcastFromRankZero(unet.parameters(), Parallel);   // identical start on every rank
        unet.train();
        if (config.MixedPrecision == MixedPrecision.BFloat16) bf16 = new BFloat16Compute<UNet2DConditionModel>(unet, new UNet2DConditionModel(modelConfig));
        var adamW = new AdamWConfig(config.LearningRate, config.Beta1, config.Beta2, WeightDecay: config.WeightDecay);
        optimizer = new AdamWOptimizer(unet.named_parameters(), adamW, AdamWOptimizer.DecayMatricesOnly);
        ema = new ExponentialMovingAverage(unet.named_parameters(), new EmaConfig(Decay: config.EmaDecay, UseWarmup: true));
        noiseSchedule = new NoiseSchedule(SchedulerConfigFor(config.PredictionType));

        // 2. Data order and randomness.
        sampler = new CaptionedSampler(cache.ImageCaptions, config.Seed,
            config.BalanceBy is { } field ? ImageGroups.By(cache.Records, field) : null);
        noise = new Generator(config.Seed);
    }

    // Fine-tuning start: the folder's weights replace the seeded ones (strictly), before the optimizer and EMA copy them.
    void LoadInitialWeights(string folder, UNetConfig modelConfig, UNetTrainingConfig config)
    {
        const string name = "U-Net training config";
        InitFromCheck.RequireFiles(name, folder, "U-Net", "config.json", UNet2DConditionModel.WeightsFileName);
        var saved = ConfigFile.Read<UNetConfig>(Path.Combine(folder, "config.json"), UNetConfig.ClassNameValue).Config;
        // Issue 25: a C-channel U-Net starts a learned-variance run with conv_out widened to 2C (LearnedVarianceTraining).
        bool widen = LearnedVarianceTraining.Widens(config, saved, modelConfig);
        if (widen) saved = saved with { OutChannels = modelConfig.OutChannels };
        InitFromCheck.RequireSameArchitecture(name, folder, InitFromCheck.ConfigDifferences(saved with { ClassName = UNetConfig.ClassNameValue }, modelConfig));
        string weightsPath = Path.Combine(folder, UNet2DConditionModel.WeightsFileName);
        if (!widen)
        {
            StateDictLoader.LoadFile(unet, weightsPath);
            return;
        }
        var weights = SafeTensors.Load(weightsPath);
        try
        {
            LearnedVarianceTraining.WidenConvOut(weights);
            StateDictLoader.Load(unet, weights);
        }
        finally
        {
            foreach (var w in weights.Values) w.Dispose();
        }
    }

    /// <summary>The U-Net being trained (its live training weights).</summary>
    public UNet2DConditionModel Model => unet;

    /// <summary>The EMA of the weights (what grids and the export use).</summary>
    public ExponentialMovingAverage Ema => ema;

    /// <summary>
    /// The scheduler config of training and of the exported <c>scheduler/</c>: a DDPMScheduler with SD's schedule
    /// (scaled_linear, β from 0.00085 to 0.012, 1000 steps, steps_offset 1, no sample clipping).
    /// </summary>
    public static SchedulerConfig SchedulerConfigFor(PredictionType prediction) =>
        SchedulerConfig.ForClass(SchedulerConfig.DdpmClassName) with
        {
            DiffusersVersion = DiffusersVersion,
            NumTrainTimesteps = 1000,
            BetaStart = 0.00085,
            BetaEnd = 0.012,
            BetaSchedule = BetaSchedule.ScaledLinear,
            PredictionType = prediction,
            StepsOffset = 1,
            ClipSample = false,
        };

    /// <summary>
    /// The exported <c>scheduler/</c>: DDIM on the training schedule, with SD 1.x's DDIM settings (no sample clipping,
    /// <c>set_alpha_to_one</c> false, <c>steps_offset</c> 1), so that a plain <c>txt2img</c> samples well in 30 steps
    /// where DDPM would need hundreds.
    /// </summary>
    public static SchedulerConfig SamplerConfigFor(PredictionType prediction) =>
        SchedulerConfigFor(prediction).ConvertTo(SchedulerConfig.DdimClassName) with
        {
            ClipSample = false,
            SetAlphaToOne = false,
        };

    /// <summary>The exported <c>scheduler/</c> of a run: <see cref="SamplerConfigFor"/>, or with a learned variance (issue 25)
    /// DDPM with <c>variance_type: learned_range</c>, the sampler that uses it (diffusers' DDPMScheduler reads it alike).</summary>
    public static SchedulerConfig ExportedSchedulerConfig(UNetTrainingConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.LearnsVariance
            ? SchedulerConfigFor(config.PredictionType) with { VarianceType = VarianceType.LearnedRange }
            : SamplerConfigFor(config.PredictionType);
    }

    /// <inheritdoc />
    protected override TrainingState State => new()
    {
        Model = unet,
        Optimizer = optimizer,
        Ema = ema,
        Sampler = sampler.Sampler,
        Generators = new Dictionary<string, Generator> { [NoiseGenerator] = noise },
    };

    /// <inheritdoc />
    protected override long? SampleInterval => config.SampleInterval;

    /// <inheritdoc/>
    /// <remarks>mixed_precision: bf16 computes on a copy of the same float32 weights, optimizer and EMA, so a float32 run
    /// may go on in bf16 (and back) from any checkpoint.</remarks>
    protected override IReadOnlyList<string> KeysFreeOnResume => ["mixed_precision"];

    /// <summary>
    /// Trains until the config's last step (or <paramref name="stopAfterStep"/>, or cancellation), logging, drawing grids
    /// and checkpointing on the way (see <see cref="Trainer{TStep}.Train"/>); a completed run also exports OUT.
    /// </summary>
    /// <param name="progress">Receives a report after every step and event (called on the training thread).</param>
    /// <param name="stopAfterStep">Stop (with a checkpoint) after this many completed steps; null: the config's total.</param>
    /// <param name="cancellation">Stops after the current step, with a checkpoint (a clean Ctrl+C).</param>
    /// <exception cref="NonFiniteGradientException">Too many steps in a row had a non-finite loss or gradient norm.</exception>
    public UNetTrainingResult Run(IProgress<TrainingProgress<UNetStepResult>>? progress = null, long? stopAfterStep = null, CancellationToken cancellation = default)
    {
        bool completed = Train(progress, stopAfterStep, cancellation);
        return new UNetTrainingResult(Step, completed, LastLoss, completed && IsMain ? Export() : null);   // rank 0 exports
    }

    /// <inheritdoc />
    protected override IEnumerable<(string Key, JsonNode? Value)> LogValues(IReadOnlyList<UNetStepResult> steps) =>
        [("loss", Mean(steps, s => s.Loss)), ("grad_norm", MeanGradNorm(steps)), ("lr", Mean(steps, s => s.LearningRate))];

    /// <inheritdoc />
    protected override string DrawSamples() => SaveSamples();

    /// <summary>
    /// One optimizer step on the next batch; returns its loss. A non-finite loss or gradient norm skips the update, counted
    /// and logged (see <see cref="NonFiniteGradientGuard"/>).
    /// </summary>
    /// <exception cref="NonFiniteGradientException">More than <see cref="NonFiniteGradientGuard.MaxConsecutiveSkips"/> steps in a
    /// row had a non-finite loss or gradient norm.</exception>
    public override UNetStepResult TrainStep()
    {
        using var scope = NewDisposeScope();
        double lr = Schedule.At(Step);
        optimizer.LearningRate = lr;
        optimizer.ZeroGrad();

        // 1. Batch: images, one caption each, some replaced by the empty prompt (-1).
        var batch = sampler.Next(config.BatchSize);
        bool[] dropped = CaptionDropout.Sample(config.BatchSize, config.CaptionDropout, noise);
        int[] captions = batch.Captions.Select((c, b) => dropped[b] ? -1 : c).ToArray();
        var context = cache.TextStates(captions);                                 // [B, T, D]

        // 2. z0 = scaling_factor * (mean + std * eps'), a fresh posterior sample of the cached posterior.
        var (mean, logVar) = cache.Posterior(batch.Images);                       // [B, C, h, w] each
        var posteriorNoise = randn(mean.shape, generator: noise);
        var std = (Scalars.Of(0.5) * logVar).exp();
        var z0 = mean.add(std * posteriorNoise, Scalars.One) * Scalars.Of(vae.Config.ScalingFactor);

        // 3. Forward process: eps (+ offset), t ~ U{0..T-1}, z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps.
        var eps = DiffusionObjective.Noise(z0.shape, config.NoiseOffset, noise);  // [B, C, h, w]
        var t = randint(0, noiseSchedule.NumTrainTimesteps, new long[] { config.BatchSize }, dtype: ScalarType.Int64, generator: noise); // [B]
        long[] timesteps = t.data<long>().ToArray();
        var zt = noiseSchedule.AddNoise(z0, eps, t);
        var target = DiffusionObjective.Target(noiseSchedule, z0, eps, timesteps, config.PredictionType);

        // 4. Loss: per-sample MSE, weighted, averaged over the global batch. With N ranks this rank runs the U-Net on its
        //    share of rows [s, s + c) only, and its loss is the share's sum / B, so that the ranks' sum is the batch mean.
        bool whole = Share.IsWhole(config.BatchSize);
        Tensor Rows(Tensor x) => whole ? x : x.narrow(0, Share.Start, Share.Count);   // [B, ...] -> [c, ...]
        var output = bf16 is null                                                 // [c, C, h, w], or [c, 2C, h, w] with a learned variance; float32
            ? unet.forward(Rows(zt), Rows(t), Rows(context))
            : bf16.Forward(unet, copy => copy.forward(BFloat16Compute.In(Rows(zt)), Rows(t), BFloat16Compute.In(Rows(context))));
        // Issue 25: a learned variance splits off its half and adds lambda T L_t (LearnedVarianceTraining).
        long[] rowTimesteps = whole ? timesteps : timesteps[Share.Start..(Share.Start + Share.Count)];
        var (prediction, vlb) = LearnedVarianceTraining.Split(config, noiseSchedule, Rows(z0), Rows(zt), rowTimesteps, output);
        var perSample = (prediction - Rows(target)).pow(Scalars.Of(2)).mean(new long[] { 1, 2, 3 }); // [c]
        var loss = perSample;
        if (config.MinSnrGamma > 0)
        {
            var weights = timesteps.Select(s => (float)DiffusionObjective.MinSnrWeight(noiseSchedule, s, config.MinSnrGamma, config.PredictionType)).ToArray();
            loss = perSample * Rows(tensor(weights));
        }
        if (vlb is not null) loss = loss.add(vlb, Scalars.One);
        if (whole) loss = loss.mean();
        else
        {
            using var batchSize = ((double)config.BatchSize).ToScalar();
            loss = loss.sum() / batchSize;
        }

        // 5. Update: (sum the ranks' gradients and losses,) clip, step (skipped, counted and logged on a non-finite loss or
        //    gradient), EMA. Every rank then holds the same gradient and takes the same step.
        loss.backward();
        bf16?.GradientsToMasters();
        double lossValue = loss.item<float>();
        if (!whole)
        {
            GradientAllReduce.Sum(optimizer.Parameters, Parallel, $"gradients of step {Step + 1}");
            using var lossSum = tensor(new[] { (float)lossValue });
            Parallel.AllReduceSum(lossSum, $"the loss of step {Step + 1}");
            lossValue = lossSum.item<float>();
        }
        var (norm, skip) = ClipAndStep(optimizer, lossValue, unet.named_parameters());
        ema.Update();
        Step++;
        return new UNetStepResult(lossValue, norm.TotalNorm, lr, skip);
    }

    /// <summary>
    /// Writes <c>samples/step-NNNNNN.png</c>: one image per validation prompt from the EMA weights, at the config's seed,
    /// with DDIM and classifier-free guidance, so grids of different steps compare.
    /// </summary>
    /// <returns>The file written.</returns>
    public string SaveSamples()
    {
        string path = Path.Combine(OutDir, "samples", $"step-{Step.ToString("D6", CultureInfo.InvariantCulture)}.png");
        using var images = Sample(config.ValidationPrompts, (long)(config.Seed % long.MaxValue), config.SampleSteps, config.SampleGuidanceScale);
        using var grid = ImageGrid.Tile(images, columns: Math.Min(8, config.ValidationPrompts.Length));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageIO.SavePng(grid, path);
        return path;
    }

    /// <summary>Generates one image per prompt with the EMA weights (DDIM, CFG); the training weights are put back after.</summary>
    /// <returns>[P, 3, H, W] in [-1, 1]; the caller owns it.</returns>
    public Tensor Sample(IReadOnlyList<string> prompts, long seed, int steps, double guidanceScale)
    {
        int size = (int)cache.LatentShape[1] * vae.Config.DownsampleFactor;
        using (ema.SwapIntoModel())
        {
            unet.eval();
            try
            {
                using var pipeline = new StableDiffusionPipeline(vae, textEncoder, tokenizer, unet, SchedulerConfigFor(config.PredictionType));
                using var result = pipeline.Generate(new GenerationRequest
                {
                    Prompts = prompts,
                    Seed = seed,
                    Steps = steps,
                    GuidanceScale = guidanceScale,
                    Scheduler = SchedulerKind.Ddim,
                    Width = size,
                    Height = size,
                });
                using var detached = result.Images.detach();   // held across clone(): SaveSamples runs outside a dispose scope
                return detached.clone();
            }
            finally
            {
                unet.train();
            }
        }
    }

    /// <summary>
    /// Makes OUT a diffusers <c>StableDiffusionPipeline</c> folder: <c>unet/</c> (the EMA weights), <c>scheduler/</c>,
    /// copies of the VAE, text encoder and tokenizer, and <c>model_index.json</c>.
    /// </summary>
    /// <returns>OUT.</returns>
    public string Export()
    {
        using (ema.SwapIntoModel())
        using (var pipeline = new StableDiffusionPipeline(vae, textEncoder, tokenizer, unet, ExportedSchedulerConfig(config)))
            pipeline.SavePretrained(OutDir, config.ExportPrecision.ToScalarType());
        return OutDir;
    }

    static void CheckFits(UNetConfig model, LatentCache cache, int outChannels)
    {
        long channels = cache.LatentShape[0], size = cache.LatentShape[1], width = cache.TextShape[1];
        if (model.InChannels != channels || model.OutChannels != outChannels)
            throw new ArgumentException($"the U-Net has in_channels {model.InChannels} and out_channels {model.OutChannels}; " +
                                        $"the VAE's latents have {channels} channels, expected in_channels {channels} and out_channels {outChannels}" +
                                        (outChannels != channels ? " (twice: mean and learned variance)" : ""), nameof(model));
        int multiple = 1 << (model.BlockOutChannels.Length - 1);
        if (size % multiple != 0 || cache.LatentShape[2] % multiple != 0)
            throw new ArgumentException($"latents of {size}x{cache.LatentShape[2]} do not fit a U-Net with {model.BlockOutChannels.Length} levels; " +
                                        $"expected multiples of {multiple}", nameof(model));
        if (model.CrossAttentionDim.Values.Any(d => d != width))
            throw new ArgumentException($"the U-Net has cross_attention_dim {model.CrossAttentionDim}; the text encoder's states are " +
                                        $"{width} wide, expected them equal", nameof(model));
    }

    /// <summary>Frees the U-Net, optimizer, EMA and generator (not the frozen models or the cache).</summary>
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
        ema.Dispose();
        optimizer.Dispose();
        bf16?.Dispose();
        unet.Dispose();
        noise.Dispose();
    }
}
