using Latent.Cli.Commands;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent train vae</c> and <c>latent eval vae</c> in-process with stdout and stderr captured.</summary>
[Collection(InProcessCli.Collection)]
public class TrainVaeCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    /// <summary>A folder of 4 training and 2 validation 16x16 images.</summary>
    static string Folder()
    {
        string dir = TestEnvironment.NewTempDir();
        var lines = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            using var image = TestTensors.UniformPixels([3, 16, 16], new Generator((ulong)i + 1));
            ImageIO.SavePng(image, Path.Combine(dir, $"{i}.png"));
            lines.Add($"{{\"file_name\": \"{i}.png\", \"text\": \"image\", \"split\": \"{(i < 4 ? "train" : "validation")}\"}}");
        }
        File.WriteAllLines(Path.Combine(dir, "metadata.jsonl"), lines);
        return dir;
    }

    [Fact]
    public void Train_MissingDataFolder_OneLineAndNonZeroExit()
    {
        string missing = Path.Combine(TestEnvironment.NewTempDir(), "nope");
        var r = Run("train", "vae", "--data", missing, "--out", TestEnvironment.NewTempDir());
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Equal($"error: --data folder '{missing}' does not exist", r.Err.TrimEnd('\n'));
    }

    [Fact]
    public void Train_RequiresData()
    {
        var r = Run("train", "vae", "--out", TestEnvironment.NewTempDir());
        Assert.NotEqual(0, r.Code);
        Assert.Contains("--data", r.Err);
    }

    [Fact]
    public void Train_ResumeWithHyperParameter_IsRejected()
    {
        var r = Run("train", "vae", "--data", Folder(), "--out", TestEnvironment.NewTempDir(), "--resume", "--lr", "0.1");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("drop --lr", r.Err);
    }

    [Fact]
    public void TrainThenEval_TinyPreset_ExportsAndEvaluates()
    {
        string data = Folder();
        string outDir = TestEnvironment.NewTempDir();
        var train = Run("train", "vae", "--data", data, "--out", outDir, "--preset", "tiny", "--steps", "4", "--warmup", "1", "--batch-size", "2",
            "--disc-start", "2", "--disc-channels", "8", "--disc-layers", "2", "--eval-every", "2", "--checkpoint-every", "2");
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("scaling_factor", train.Out);
        Assert.True(File.Exists(Path.Combine(outDir, "vae", "diffusion_pytorch_model.safetensors")));

        var again = Run("train", "vae", "--data", data, "--out", outDir, "--preset", "tiny");
        Assert.Equal(CommandRunner.UserError, again.Code);
        Assert.Contains("--resume", again.Err);

        string grid = Path.Combine(outDir, "eval.png");
        var eval = Run("eval", "vae", "--model", outDir, "--data", data, "--grid", grid);
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Contains("PSNR", eval.Out);
        Assert.True(File.Exists(grid));

        // A decoder-only fine-tune of the exported VAE keeps its scaling factor (its latents are the same).
        string tuned = TestEnvironment.NewTempDir();
        var decoder = Run("train", "vae", "--data", data, "--out", tuned, "--init-from", Path.Combine(outDir, "vae"), "--decoder-only",
            "--steps", "2", "--warmup", "1", "--batch-size", "2", "--disc-weight", "0", "--eval-every", "0", "--checkpoint-every", "2");
        Assert.True(decoder.Code == 0, decoder.Err);
        Assert.Equal(File.ReadAllText(Path.Combine(outDir, "vae", "config.json")), File.ReadAllText(Path.Combine(tuned, "vae", "config.json")));
    }

    [Fact]
    public void Train_DecoderOnlyWithoutInitFrom_IsRefused()
    {
        var r = Run("train", "vae", "--data", Folder(), "--out", TestEnvironment.NewTempDir(), "--preset", "tiny", "--decoder-only");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--decoder-only", r.Err);
        Assert.Contains("--init-from", r.Err);
    }

    [Fact]
    public void Resume_WithATruncatedNewestCheckpoint_FallsBackToTheOlderOne_AndSaysSo()
    {
        string data = Folder();
        string outDir = TestEnvironment.NewTempDir();
        string[] common = ["train", "vae", "--data", data, "--out", outDir];
        var train = Run([.. common, "--preset", "tiny", "--steps", "4", "--warmup", "1", "--batch-size", "2", "--disc-start", "8",
            "--disc-channels", "8", "--disc-layers", "2", "--eval-every", "4", "--checkpoint-every", "2"]);
        Assert.True(train.Code == 0, train.Err);
        string newest = Path.Combine(outDir, "checkpoints", "checkpoint-000004.safetensors");
        using (var f = new FileStream(newest, FileMode.Open)) f.SetLength(f.Length / 3);

        var resumed = Run([.. common, "--resume"]);

        Assert.True(resumed.Code == 0, resumed.Err);
        string warning = Assert.Single(resumed.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("warning: ", StringComparison.Ordinal));
        Assert.Contains(newest, warning);
        Assert.Contains("older checkpoint", warning);
    }
}
