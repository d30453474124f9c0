using Latent.Cli.Commands;
using Latent.Core.Imaging;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.Vae;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent train unet</c> in-process with stdout and stderr captured (one at a time: Console is global).</summary>
[Collection(InProcessCli.Collection)]
public class TrainUNetCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    /// <summary>Four solid-colour images and Tiny VAE, text encoder and tokenizer folders.</summary>
    internal static (string Data, string Vae, string TextEncoder, string Tokenizer) World()
    {
        using var scope = NewDisposeScope();
        string root = TestEnvironment.NewTempDir();
        string data = Directory.CreateDirectory(Path.Combine(root, "data")).FullName;
        string[] colours = ["red", "green", "blue", "yellow"];
        float[][] rgb = [[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]];
        var lines = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            using var image = tensor(rgb[i]).reshape(3, 1, 1).expand(3, 16, 16).contiguous();
            ImageIO.SavePng(image, Path.Combine(data, $"{i}.png"));
            lines.Add($"{{\"file_name\": \"{i}.png\", \"text\": [\"{colours[i]}\", \"a {colours[i]} square\"]}}");
        }
        File.WriteAllLines(Path.Combine(data, "metadata.jsonl"), lines);
        manual_seed(1);
        using (var vae = new AutoencoderKL(VaeConfig.Tiny)) vae.SavePretrained(Path.Combine(root, "vae"));
        using (var text = new ClipTextModel(ClipTextConfig.Tiny)) text.SavePretrained(Path.Combine(root, "text_encoder"));
        ClipBpeTrainer.Train(colours, ClipBpeTrainerOptions.Tiny).SavePretrained(Path.Combine(root, "tokenizer"));
        return (data, Path.Combine(root, "vae"), Path.Combine(root, "text_encoder"), Path.Combine(root, "tokenizer"));
    }

    [Fact]
    public void Train_WithoutVae_IsAUsageErrorNamingIt()
    {
        var r = Run("train", "unet", "--data", "d", "--out", "o", "--text-encoder", "t", "--tokenizer", "k");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--vae", r.Err);
    }

    [Fact]
    public void Train_CaptionDropoutAboveOne_IsAUsageError()
    {
        var r = Run("train", "unet", "--data", "d", "--out", "o", "--vae", "v", "--text-encoder", "t", "--tokenizer", "k", "--caption-dropout", "1.5");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--caption-dropout must be in [0, 1]; got 1.5.", r.Err);
    }

    [Fact]
    public void Train_MissingVaeFolder_OneLineAndExitTwo()
    {
        var w = World();
        string missing = Path.Combine(TestEnvironment.NewTempDir(), "nope");
        var r = Run("train", "unet", "--data", w.Data, "--out", TestEnvironment.NewTempDir(), "--vae", missing, "--text-encoder", w.TextEncoder, "--tokenizer", w.Tokenizer);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Equal($"error: --vae folder '{missing}' does not exist", r.Err.TrimEnd('\n'));
    }

    [Fact]
    public void Train_TinyPreset_ExportsAPipelineAndRefusesToOverwriteTheRun()
    {
        var w = World();
        string outDir = TestEnvironment.NewTempDir();
        string[] common = ["train", "unet", "--data", w.Data, "--out", outDir, "--vae", w.Vae, "--text-encoder", w.TextEncoder, "--tokenizer", w.Tokenizer];
        var train = Run([.. common, "--preset", "tiny", "--steps", "2", "--batch-size", "2", "--warmup", "0", "--checkpoint-every", "1",
            "--sample-every", "0", "--prompt", "red", "--prompt", "blue", "--export-dtype", "Float32"]);
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("done: 2 steps", train.Out);
        // Without mpiexec the run is one process and MPI.NET is never loaded (src/Cli/DataParallelSession.cs).
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), asm => asm.GetName().Name == "MPI");
        Assert.DoesNotContain("data-parallel", train.Out);
        foreach (string file in new[] { "model_index.json", "unet/config.json", "scheduler/scheduler_config.json", "vae/config.json",
                                         "text_encoder/config.json", "tokenizer/vocab.json", "samples/step-000002.png", "training_config.json" })
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);

        var again = Run([.. common, "--preset", "tiny"]);
        Assert.Equal(CommandRunner.UserError, again.Code);
        Assert.Contains("--resume", again.Err);

        var resumeWithLr = Run([.. common, "--resume", "--lr", "0.1"]);
        Assert.Equal(CommandRunner.UserError, resumeWithLr.Code);
        Assert.Contains("drop --lr", resumeWithLr.Err);
    }

    [Fact]
    public void Train_InitFrom_ContinuesAFinishedRunsUNet_AndRejectsPresetOrAFolderWithoutOne()
    {
        var w = World();
        string first = TestEnvironment.NewTempDir();
        string[] Common(string outDir) => ["train", "unet", "--data", w.Data, "--out", outDir, "--vae", w.Vae, "--text-encoder", w.TextEncoder,
            "--tokenizer", w.Tokenizer, "--steps", "2", "--batch-size", "2", "--warmup", "0", "--sample-every", "0", "--prompt", "red", "--export-dtype", "Float32"];
        var train = Run([.. Common(first), "--preset", "tiny"]);
        Assert.True(train.Code == 0, train.Err);

        string second = TestEnvironment.NewTempDir();
        string unet = Path.Combine(first, "unet");
        var init = Run([.. Common(second), "--init-from", unet]);
        Assert.True(init.Code == 0, init.Err);
        Assert.Contains("done: 2 steps", init.Out);
        Assert.Contains($"\"init_from\": \"{unet}\"", File.ReadAllText(Path.Combine(second, "training_config.json")));
        Assert.Equal(File.ReadAllText(Path.Combine(first, "unet", "config.json")), File.ReadAllText(Path.Combine(second, "unet", "config.json")));

        var withPreset = Run([.. Common(TestEnvironment.NewTempDir()), "--init-from", unet, "--preset", "tiny"]);
        Assert.Equal(CommandRunner.UserError, withPreset.Code);
        Assert.Contains("--preset and --init-from both name the model", withPreset.Err);

        string notAUNet = TestEnvironment.NewTempDir();
        var missing = Run([.. Common(TestEnvironment.NewTempDir()), "--init-from", notAUNet]);
        Assert.Equal(CommandRunner.UserError, missing.Code);
        Assert.Equal($"error: --init-from '{notAUNet}' is not a U-Net folder; expected config.json and diffusion_pytorch_model.safetensors in it",
            missing.Err.TrimEnd('\n'));
    }

    [Fact]
    public void Train_Sigterm_SavesACheckpointAndStopsCleanly_ThenResumes()
    {
        // A background run (`latent train ... &`) ignores SIGINT, so `kill` (SIGTERM) must checkpoint like Ctrl+C does.
        var w = World();
        string outDir = TestEnvironment.NewTempDir();
        string[] common = ["train", "unet", "--data", w.Data, "--out", outDir, "--vae", w.Vae, "--text-encoder", w.TextEncoder, "--tokenizer", w.Tokenizer];
        var r = LatentProcess.RunAndTerminate(line => line.StartsWith("step ", StringComparison.Ordinal),
            [.. common, "--preset", "tiny", "--steps", "1000000", "--batch-size", "2", "--warmup", "0", "--checkpoint-every", "0",
             "--sample-every", "0", "--prompt", "red"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("stopped at step", r.Stdout);
        Assert.Contains($"continue with --resume --out {outDir}", r.Stdout);
        Assert.Single(Directory.GetFiles(Path.Combine(outDir, "checkpoints"), "*.safetensors"));

        var resumed = LatentProcess.RunAndTerminate(line => line.StartsWith("step ", StringComparison.Ordinal), [.. common, "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Matches(@"resumed at step [1-9]", resumed.Stdout);
    }
}
