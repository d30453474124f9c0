namespace Latent.Cli.Tests;

/// <summary><c>latent train unet --mixed-precision</c>.</summary>
public sealed class TrainUNetMixedPrecisionTests
{
    [Fact]
    public void MixedPrecision_Bf16_TrainsAndIsSavedInTheConfig()
    {
        var w = TrainUNetCommandTests.World();
        string outDir = TestEnvironment.NewTempDir();
        var r = InProcessCli.Run(["train", "unet", "--data", w.Data, "--out", outDir, "--vae", w.Vae, "--text-encoder", w.TextEncoder,
            "--tokenizer", w.Tokenizer, "--preset", "tiny", "--steps", "1", "--batch-size", "2", "--warmup", "0", "--sample-every", "0",
            "--prompt", "red", "--export-dtype", "Float32", "--mixed-precision", "bf16"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("mixed precision: bf16 compute on float32 master weights", r.Out);
        Assert.Contains("\"mixed_precision\": \"bf16\"", File.ReadAllText(Path.Combine(outDir, "training_config.json")), StringComparison.Ordinal);
    }

    [Fact]
    public void MixedPrecision_Fp16_IsAUsageErrorNamingTheChoices()
    {
        var w = TrainUNetCommandTests.World();
        var r = InProcessCli.Run(["train", "unet", "--data", w.Data, "--out", TestEnvironment.NewTempDir(), "--vae", w.Vae, "--text-encoder", w.TextEncoder,
            "--tokenizer", w.Tokenizer, "--mixed-precision", "fp16"]);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--mixed-precision must be no or bf16; got 'fp16'.", r.Err, StringComparison.Ordinal);
    }
}
