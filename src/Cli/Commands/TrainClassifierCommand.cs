using System.CommandLine;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.IO;
using Latent.Judge;
using Latent.Judge.Evaluation;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using Latent.Training.UNet;
using Latent.Vae;
using static TorchSharp.torch;

namespace Latent.Cli.Commands;

/// <summary>
/// <c>latent train classifier</c> (issue 25): trains the noisy-latent classifier of classifier guidance on the emoji of a
/// judge prompt list (one class per folded emoji code, the judge's classes), on the frozen VAE's latents of every
/// rendering of those emoji in the data folder.
/// </summary>
public static class TrainClassifierCommand
{
    static readonly ClassifierTrainingConfig Defaults = new();

    // What a resumed run reads from OUT besides the configs (a new run copies them there).
    const string SchedulerFileName = "scheduler_config.json", PromptsFileName = "prompts.tsv";

    static readonly Option<string> Data = new("--data") { Description = "Emoji image folder with metadata.jsonl (needs the unified field); every split is used.", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "Run folder: configs, log.jsonl, checkpoints/ and at the end the classifier folder's config.json, classes.json, model.safetensors.", Required = true };
    static readonly Option<string> Vae = new("--vae") { Description = "The frozen VAE's folder (the model's vae/), whose latents the classifier reads.", Required = true };
    static readonly Option<string> Scheduler = new("--scheduler-config")
    {
        Description = "The model's scheduler_config.json (its noise schedule); default: SD's scaled_linear 0.00085-0.012 over 1000 steps, the shipped model's.",
    };
    static readonly Option<string> Prompts = new("--prompts")
    {
        Description = "A judge prompt list (.tsv): its emoji codes are the classes.",
        DefaultValueFactory = _ => Path.Combine("docs", "eval", "judge-prompts.tsv"),
    };
    static readonly TrainingOptions Common = new(Defaults, (1, "1"), "Latents per step.",
        "Seed of the weights, data order, posterior samples, timesteps and noise.",
        "Start from this classifier folder's weights (config.json + model.safetensors, e.g. an earlier run's OUT) with a fresh " +
        "schedule; its architecture must equal the new run's (the same classes and latents).");

    static readonly Option[] HyperParameters = [Scheduler, Prompts, .. Common.HyperParameters];

    /// <summary>Builds the command (registered as <c>latent train classifier</c>).</summary>
    public static Command Create()
    {
        var command = new Command("classifier", "Train the timestep-conditioned classifier of noisy latents that `txt2img --classifier` guides with " +
                                                "(classifier guidance): cross-entropy on noised VAE latents, AdamW, checkpoints, --resume; OUT becomes the classifier folder.");
        foreach (var option in new Option[] { Data, Out, Vae, Common.Resume, DataOptions.SkipBad }) command.Options.Add(option);
        foreach (var option in HyperParameters) command.Options.Add(option);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments and configs, before the engine starts.
        string data = parsed.GetValue(Data)!, outDir = Path.GetFullPath(parsed.GetValue(Out)!);
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        bool resume = parsed.GetValue(Common.Resume);
        var (savedModel, training, promptsPath, schedulerConfig) = resume ? SavedConfigs(parsed, outDir) : NewConfigs(parsed, outDir);

        // 2. Classes: the prompt list's codes that the data set draws; images: every rendering of them.
        GlobalOptions.StartEngine(parsed);
        var dataset = DataOptions.Read(parsed, data, split: null);
        var wanted = JudgePromptList.Read(promptsPath).SelectMany(p => p.Codes).ToHashSet(StringComparer.Ordinal);
        var classes = JudgeImageSet.ClassesOf(dataset).Where(c => wanted.Contains(c.Code)).ToList();
        if (classes.Count == 0) throw new ArgumentException($"--data '{Path.GetFullPath(data)}' has no image of the emoji in {promptsPath}; expected an emoji data set (`latent data emoji`)");
        using var vae = AutoencoderKL.FromPretrained(parsed.GetValue(Vae)!);
        vae.eval();
        using var images = JudgeImageSet.Load(dataset, classes, vae.Config.SampleSize);
        var (mean, logVar) = Encode(vae, images);
        using (mean)
        using (logVar)
        {
            // A new run's classifier takes the latents' shape and the class count (and init_from's config must equal it);
            // a resumed run keeps its saved config, and its checkpoint's identity refuses other data.
            var model = savedModel ?? new NoisyLatentClassifierConfig
            {
                InChannels = (int)mean.shape[1], SampleSize = (int)mean.shape[2], NumClasses = classes.Count,
            };
            var schedule = new NoiseSchedule(schedulerConfig);
            using var trainer = new ClassifierTrainer(model, training, mean, logVar, images.Labels, vae.Config.ScalingFactor, schedule, outDir);
            using var classifier = trainer.Model;
            long? resumed = resume ? trainer.Resume() : null;
            foreach (string skipped in trainer.ResumeSkipped) Console.Error.WriteLine($"warning: {skipped}; resuming from the older checkpoint");
            Console.WriteLine($"training a noisy-latent classifier on {images.Count} images of {classes.Count} emoji (latents {string.Join("x", mean.shape.Skip(1))}), " +
                              $"{training.Steps} steps of {training.BatchSize}" + (resumed is null ? "" : $"; resumed at step {resumed}") + $"; run folder {outDir}");

            // 3. Train, with Ctrl+C saving a checkpoint.
            var c = CultureInfo.InvariantCulture;
            ClassifierTrainingResult result = TrainingConsole.Run<ClassifierStepResult, ClassifierTrainingResult>(training.Steps, trainer.Step,
                (progress, token) => trainer.Run(progress, cancellation: token),
                p => TrainingConsole.Describe(p, l => $"loss {l.Loss.ToString("F4", c)} batch accuracy {l.Accuracy.ToString("F3", c)} lr {l.LearningRate.ToString("G2", c)}"));
            if (!result.Completed)
            {
                Console.WriteLine($"stopped at step {result.Step}/{training.Steps}; continue with --resume --out {outDir}");
                return 0;
            }

            // 4. Export; report the accuracy of the exported weights on the clean and noised latents of the training images
            //    (there is no held-out rendering to spare).
            trainer.Export(classes);
            using (trainer.Ema.SwapIntoModel())
                foreach (long t in new long[] { 0, 250, 500, 750, 999 })
                    Console.WriteLine($"  accuracy at t = {t}: {ClassifierTrainer.Accuracy(classifier, mean, images.Labels, vae.Config.ScalingFactor, schedule, t).ToString("F3", c)}");
        }
        Console.WriteLine($"done: {outDir} (use it with `latent txt2img --classifier {outDir} --class NAME`); log.jsonl, charts and checkpoints/ beside");
        return 0;
    }

    static (NoisyLatentClassifierConfig?, ClassifierTrainingConfig, string Prompts, SchedulerConfig) NewConfigs(ParseResult parsed, string outDir)
    {
        TrainingOptions.RequireNewRun(outDir);
        string prompts = parsed.GetValue(Prompts)!;
        if (!File.Exists(prompts)) throw new FileNotFoundException($"--prompts '{Path.GetFullPath(prompts)}' does not exist; expected a judge prompt list such as docs/eval/judge-prompts.tsv");
        var training = Common.Apply(parsed, new ClassifierTrainingConfig());
        // The default warm-up is cut to a shorter run's length; an explicit --warmup is checked as given.
        if (parsed.GetResult(Common.Warmup) is not { Implicit: false }) training = training with { WarmupSteps = Math.Min(training.WarmupSteps, training.Steps) };
        training.Validate();
        SchedulerConfig scheduler = parsed.GetValue(Scheduler) is { } path
            ? ConfigFile.Read<SchedulerConfig>(path).Config
            : UNetTrainer.SchedulerConfigFor(PredictionType.Epsilon);
        // init_from's architecture is checked by the trainer against the one the latents and classes give.
        if (parsed.GetValue(Common.InitFrom) is { } init) training = training with { InitFrom = Path.GetFullPath(init) };
        // The run folder keeps what a resume needs besides the configs: the noise schedule and the prompt list.
        Directory.CreateDirectory(outDir);
        ConfigFile.Write(Path.Combine(outDir, SchedulerFileName), scheduler);
        AtomicFile.WriteAllText(Path.Combine(outDir, PromptsFileName), File.ReadAllText(prompts));
        return (null, training, Path.Combine(outDir, PromptsFileName), scheduler);
    }

    static (NoisyLatentClassifierConfig?, ClassifierTrainingConfig, string Prompts, SchedulerConfig) SavedConfigs(ParseResult parsed, string outDir)
    {
        var training = TrainingOptions.SavedTraining<ClassifierTrainingConfig>(parsed, outDir, HyperParameters,
            ClassifierTrainer.ModelConfigFileName, SchedulerFileName, PromptsFileName);
        var model = ConfigFile.Read<NoisyLatentClassifierConfig>(Path.Combine(outDir, ClassifierTrainer.ModelConfigFileName), NoisyLatentClassifierConfig.ClassNameValue).Config;
        return (model, training, Path.Combine(outDir, PromptsFileName), ConfigFile.Read<SchedulerConfig>(Path.Combine(outDir, SchedulerFileName)).Config);
    }

    // The VAE posterior's moments of every image: [N, C, h, w] each, in batches of 64.
    static (Tensor Mean, Tensor LogVar) Encode(AutoencoderKL vae, JudgeImageSet images)
    {
        using var noGrad = no_grad();
        var means = new List<Tensor>();
        var logVars = new List<Tensor>();
        for (int start = 0; start < images.Count; start += 64)
        {
            using var scope = NewDisposeScope();
            var batch = images.Take(Enumerable.Range(start, Math.Min(64, images.Count - start)).ToList());
            using var posterior = vae.Encode(batch);
            means.Add(posterior.Mean.clone().MoveToOuterDisposeScope());
            logVars.Add(posterior.LogVar.clone().MoveToOuterDisposeScope());
        }
        var mean = cat(means, 0);
        var logVar = cat(logVars, 0);
        foreach (var t in means.Concat(logVars)) t.Dispose();
        return (mean, logVar);
    }
}
