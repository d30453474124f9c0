using System.CommandLine;
using Latent.Pipeline;
using Latent.Pipeline.Lora;
using static TorchSharp.torch;

namespace Latent.Cli.Commands;

/// <summary>
/// <c>latent convert IN OUT</c>: an SD 1.x single file to a diffusers folder and back, or either to fp16, so a user can
/// keep one format. OUT ending in <c>.safetensors</c> is written as a single file, anything else as a folder.
/// </summary>
public static class ConvertCommand
{
    static readonly Argument<string> Input = new("input") { Description = "A diffusers pipeline folder or an SD 1.x single .safetensors or .ckpt file." };
    static readonly Argument<string> Output = new("output") { Description = "A .safetensors file (single file, LDM key names) or a folder (diffusers layout)." };

    static readonly Option<string> Dtype = new("--dtype")
    {
        Description = "The written weights' dtype: fp32 (exact), fp16 (half the size) or bf16.",
        DefaultValueFactory = _ => "fp32",
        Validators = { OptionChecks.Rule<string>(v => v is "fp32" or "fp16" or "bf16" ? null : $"--dtype must be fp32, fp16 or bf16; got '{v}'.") },
    };

    /// <summary>Builds the command (registered as <c>latent convert</c>).</summary>
    public static Command Create()
    {
        var command = new Command("convert", "Convert a model: single .safetensors file <-> diffusers folder, fp32 -> fp16; --lora bakes LoRAs in.");
        command.Arguments.Add(Input);
        command.Arguments.Add(Output);
        command.Options.Add(GenerationOptions.Config);
        command.Options.Add(GenerationOptions.Lora);
        command.Options.Add(Dtype);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        string input = parsed.GetValue(Input)!, output = parsed.GetValue(Output)!;
        if (!Directory.Exists(input) && !File.Exists(input))
            throw new FileNotFoundException($"convert input '{Path.GetFullPath(input)}' does not exist; expected a diffusers folder or a .safetensors/.ckpt file", input);
        if (Path.GetFullPath(input) == Path.GetFullPath(output))
            throw new ArgumentException($"convert output is the input ('{Path.GetFullPath(input)}'); name another path");
        ScalarType dtype = parsed.GetValue(Dtype) switch { "fp16" => ScalarType.Float16, "bf16" => ScalarType.BFloat16, _ => ScalarType.Float32 };
        string? config = parsed.GetValue(GenerationOptions.Config);
        if (config is not null && !Directory.Exists(config))
            throw new DirectoryNotFoundException($"--config folder '{Path.GetFullPath(config)}' does not exist; expected a diffusers folder with tokenizer/");
        GlobalOptions.StartEngine(parsed);
        using var pipeline = StableDiffusionPipeline.Load(input, new PipelineOptions { ConfigDirectory = config, Runtime = UNetRuntime.LibTorch });
        var loras = (parsed.GetValue(GenerationOptions.Lora) ?? []).Select(LoraSpec.Parse).ToList();
        if (loras.Count > 0) pipeline.SetLoras(loras);
        if (output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) pipeline.SaveSingleFile(output, dtype);
        else pipeline.SavePretrained(output, dtype);
        Console.WriteLine($"wrote {Path.GetFullPath(output)} ({parsed.GetValue(Dtype)})");
        return 0;
    }
}
