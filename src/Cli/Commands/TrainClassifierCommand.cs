using System.CommandLine;
using System.Globalization;
using Latent.Core.Config;
using Latent.Core.Data;
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

    static readonly Option<string> Data = new("--data") { Description = "Emoji image folder with metadata.jsonl (needs the unified field); every split is used.", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "The classifier folder: config.json, classes.json, model.safetensors, training_config.json.", Required = true };
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
    static readonly Option<long> Steps = new("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => Defaults.Steps };
    static readonly Option<int> BatchSize = new("--batch-size") { Description = "Latents per step.", DefaultValueFactory = _ => Defaults.BatchSize };
    static readonly Option<double> LearningRate = new("--lr") { Description = "Peak AdamW learning rate.", DefaultValueFactory = _ => Defaults.LearningRate };
    static readonly Option<ulong> Seed = new("--seed") { Description = "Seed of the weights, batches and noise.", DefaultValueFactory = _ => Defaults.Seed };

    /// <summary>Builds the command (registered as <c>latent train classifier</c>).</summary>
    public static Command Create()
    {
        var command = new Command("classifier", "Train the timestep-conditioned classifier of noisy latents that `txt2img --classifier` guides with (classifier guidance).");
        foreach (var option in new Option[] { Data, Out, Vae, Scheduler, Prompts, Steps, BatchSize, LearningRate, Seed, DataOptions.SkipBad }) command.Options.Add(option);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        // 1. Arguments and configs.
        string data = parsed.GetValue(Data)!, outDir = Path.GetFullPath(parsed.GetValue(Out)!), promptsPath = parsed.GetValue(Prompts)!;
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        if (!File.Exists(promptsPath)) throw new FileNotFoundException($"--prompts '{Path.GetFullPath(promptsPath)}' does not exist; expected a judge prompt list such as docs/eval/judge-prompts.tsv");
        var training = new ClassifierTrainingConfig
        {
            Steps = parsed.GetValue(Steps), BatchSize = parsed.GetValue(BatchSize), LearningRate = parsed.GetValue(LearningRate), Seed = parsed.GetValue(Seed),
        };
        training = training with { WarmupSteps = Math.Min(training.WarmupSteps, training.Steps) };
        training.Validate();
        SchedulerConfig schedulerConfig = parsed.GetValue(Scheduler) is { } path
            ? ConfigFile.Read<SchedulerConfig>(path).Config
            : UNetTrainer.SchedulerConfigFor(PredictionType.Epsilon);

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
            var model = new NoisyLatentClassifierConfig
            {
                InChannels = (int)mean.shape[1], SampleSize = (int)mean.shape[2], NumClasses = classes.Count,
            };
            Console.WriteLine($"training a noisy-latent classifier on {images.Count} images of {classes.Count} emoji (latents {string.Join("x", mean.shape.Skip(1))}), " +
                              $"{training.Steps} steps of {training.BatchSize}; folder {outDir}");

            // 3. Train; report the accuracy on the clean and noised latents of the training images (there is no held-out rendering to spare).
            using var trainer = new ClassifierTrainer(model, training, mean, logVar, images.Labels, vae.Config.ScalingFactor, new NoiseSchedule(schedulerConfig));
            var c = CultureInfo.InvariantCulture;
            trainer.Run(new SyncProgress<ClassifierTrainingProgress>(p =>
                Console.WriteLine($"step {p.Step}/{p.TotalSteps} loss {p.Loss.ToString("F4", c)} batch accuracy {p.Accuracy.ToString("F3", c)}")));
            var schedule = new NoiseSchedule(schedulerConfig);
            foreach (long t in new long[] { 0, 250, 500, 750, 999 })
                Console.WriteLine($"  accuracy at t = {t}: {ClassifierTrainer.Accuracy(trainer.Model, mean, images.Labels, vae.Config.ScalingFactor, schedule, t).ToString("F3", c)}");
            ClassifierFolder.Save(outDir, trainer.Model, classes);
            ConfigFile.Write(Path.Combine(outDir, "training_config.json"), training);
            trainer.Model.Dispose();
        }
        Console.WriteLine($"done: {outDir} (use it with `latent txt2img --classifier {outDir} --class NAME`)");
        return 0;
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
