using System.CommandLine;
using System.Diagnostics;
using Latent.Core.Imaging;
using Latent.Pipeline;
using static TorchSharp.torch;

namespace Latent.Cli.Commands;

/// <summary><c>latent img2img IMAGE "prompt" --strength 0.6</c>: change an image as a prompt says (SDEdit).</summary>
public static class ImgToImgCommand
{
    static readonly Argument<string> Image = new("image") { Description = "The start image (PNG, JPEG, WebP, ...); resized to --size." };
    static readonly Argument<string> Prompt = new("prompt") { Description = "What the new image should show." };

    /// <summary>Builds the command (registered as <c>latent img2img</c>).</summary>
    public static Command Create()
    {
        var command = new Command("img2img", "Change an image as a prompt says: encode it, noise it by --strength, denoise with the prompt.");
        command.Arguments.Add(Image);
        command.Arguments.Add(Prompt);
        GenerationOptions.AddTo(command, strength: true);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        var timings = new RunTimings(parsed.GetValue(GenerationOptions.Timings));
        string imagePath = parsed.GetValue(Image)!;
        if (!File.Exists(imagePath)) throw new FileNotFoundException($"image file not found: '{Path.GetFullPath(imagePath)}'", imagePath);
        // Before the model loads: a device, an oversized file or a header declaring too many pixels is refused at once.
        ImageIO.ReadSize(imagePath);
        string prompt = GenerationOptions.CheckPrompt(parsed.GetValue(Prompt));
        string modelDir = GenerationOptions.FindModel(parsed.GetValue(GenerationOptions.Model));
        GlobalOptions.StartEngine(parsed);
        timings.Mark("engine start (TorchSharp, libtorch)");
        using var pipeline = GenerationOptions.LoadPipeline(parsed, modelDir);
        timings.Mark("load", pipeline.LoadTimings);
        GenerationRequest generation = GenerationOptions.Request(parsed, pipeline, prompt);
        // The image is resized to the requested size (default: the model's), as AUTOMATIC1111 does.
        using Tensor image = ImageIO.Load(imagePath, new ImageSize(generation.Width, generation.Height));
        var request = new ImageToImageRequest { Generation = generation, Image = image, Strength = parsed.GetValue(GenerationOptions.Strength) };
        int steps = (int)(generation.Steps * request.Strength);
        var clock = Stopwatch.StartNew();
        using GenerationResult result = GenerationOptions.WithProgress(Math.Max(steps, 1), progress => pipeline.ImageToImage(request, progress));
        timings.Mark("read the image and generate", result.Timings);
        GenerationOptions.Save(parsed, result, clock.Elapsed);
        timings.Mark("write the PNG");
        timings.Print();
        return 0;
    }
}
