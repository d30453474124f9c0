using System.CommandLine;
using System.Globalization;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.Vae;
using Latent.Vae.Evaluation;

namespace Latent.Cli.Commands;

/// <summary><c>latent eval vae</c>: PSNR and SSIM of a VAE's reconstructions on an image folder's split, and a grid PNG.</summary>
public static class EvalVaeCommand
{
    static readonly Option<string> Model = new("--model") { Description = "A diffusers VAE folder (config.json + diffusion_pytorch_model.safetensors), or a folder with vae/ in it.", Required = true };
    static readonly Option<string> Data = new("--data") { Description = "Image folder with metadata.jsonl.", Required = true };
    static readonly Option<string> Split = new("--split") { Description = "The split to evaluate.", DefaultValueFactory = _ => "validation" };
    static readonly Option<int> Limit = new("--limit")
    {
        Description = "Evaluate at most this many images (the first ones in file order).",
        DefaultValueFactory = _ => int.MaxValue,
        Validators = { OptionChecks.Rule<int>(v => v < 1 ? $"--limit must be at least 1; got {v}." : null) },
    };
    static readonly Option<string> Grid = new("--grid") { Description = "Where to write the grid PNG (8 images above their reconstructions).", DefaultValueFactory = _ => "vae-eval-grid.png" };

    /// <summary>Builds the command (registered as <c>latent eval vae</c>).</summary>
    public static Command Create()
    {
        var command = new Command("vae", "Reconstruct an image folder's split with a VAE: mean PSNR and SSIM (on [0, 1] images), and a grid PNG.");
        command.Options.Add(Model);
        command.Options.Add(Data);
        command.Options.Add(DataOptions.SkipBad);
        command.Options.Add(Split);
        command.Options.Add(Limit);
        command.Options.Add(Grid);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        string modelDir = parsed.GetValue(Model)!;
        string data = parsed.GetValue(Data)!;
        if (!Directory.Exists(modelDir)) throw new DirectoryNotFoundException($"--model folder '{Path.GetFullPath(modelDir)}' does not exist");
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data folder '{Path.GetFullPath(data)}' does not exist");
        if (!File.Exists(Path.Combine(modelDir, AutoencoderKL.ConfigFileName)) && File.Exists(Path.Combine(modelDir, "vae", AutoencoderKL.ConfigFileName)))
            modelDir = Path.Combine(modelDir, "vae");

        GlobalOptions.StartEngine(parsed);
        using var vae = AutoencoderKL.FromPretrained(modelDir);
        var dataset = DataOptions.Read(parsed, data, parsed.GetValue(Split));
        var size = new ImageSize(vae.Config.SampleSize, vae.Config.SampleSize);
        using var images = VaeEvaluator.LoadImages(dataset, size, parsed.GetValue(Limit));
        var result = VaeEvaluator.Evaluate(vae, images);
        string grid = Path.GetFullPath(parsed.GetValue(Grid)!);
        VaeEvaluator.SaveGrid(vae, images, grid);

        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"model {Path.GetFullPath(modelDir)} (scaling_factor {vae.Config.ScalingFactor.ToString("G5", c)})");
        Console.WriteLine($"split {parsed.GetValue(Split)}: {result.Images} images at {size.Width}x{size.Height}");
        Console.WriteLine($"PSNR {result.Psnr.ToString("F2", c)} dB, SSIM {result.Ssim.ToString("F4", c)}");
        Console.WriteLine($"grid {grid}");
        return 0;
    }
}
