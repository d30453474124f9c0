using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Latent.Server;

namespace Latent.Cli.Commands;

/// <summary><c>latent serve</c>: AUTOMATIC1111's HTTP API (<c>/sdapi/v1</c>) and a web page over one loaded model.</summary>
public static class ServeCommand
{
    static readonly ServerOptions Defaults = new();

    static readonly Option<string> Host = new("--host")
    {
        Description = "Address to bind: an IP or localhost. Anything but loopback needs --api-auth.",
        DefaultValueFactory = _ => Defaults.Host,
    };

    static readonly Option<int> Port = new("--port")
    {
        Description = "TCP port (0: a free one, printed at start).",
        DefaultValueFactory = _ => Defaults.Port,
        Validators = { OptionChecks.Rule<int>(v => v is >= 0 and <= 65535 ? null : $"--port must be in [0, 65535]; got {v}.") },
    };

    static readonly Option<string?> ApiAuth = new("--api-auth")
    {
        Description = "HTTP basic credentials user:pass (several separated by commas), as AUTOMATIC1111's; required for a non-loopback --host.",
    };

    static readonly Option<int> Queue = new("--queue")
    {
        Description = "Requests that may wait behind the running one; more get 503 with Retry-After.",
        DefaultValueFactory = _ => Defaults.QueueCapacity,
        Validators = { OptionChecks.Rule<int>(v => v >= 1 ? null : $"--queue must be at least 1; got {v}.") },
    };

    static readonly Option<int> MaxSteps = new("--max-steps")
    {
        Description = "Most denoising steps per request.",
        DefaultValueFactory = _ => Defaults.MaxSteps,
        Validators = { OptionChecks.Rule<int>(v => v is >= 1 and <= 1000 ? null : $"--max-steps must be in [1, 1000]; got {v}.") },
    };

    static readonly Option<int> MaxImages = new("--max-images")
    {
        Description = "Most images per request (batch_size x n_iter).",
        DefaultValueFactory = _ => Defaults.MaxImages,
        Validators = { OptionChecks.Rule<int>(v => v is >= 1 and <= 256 ? null : $"--max-images must be in [1, 256]; got {v}.") },
    };

    static readonly Option<int> MaxSide = new("--max-side")
    {
        Description = "Largest width or height in pixels (also bounds img2img uploads to max-side squared pixels).",
        DefaultValueFactory = _ => Defaults.MaxSide,
        Validators = { OptionChecks.Rule<int>(v => v is >= 8 and <= 8192 ? null : $"--max-side must be in [8, 8192]; got {v}.") },
    };

    static readonly Option<double> MaxBodyMb = new("--max-body-mb")
    {
        Description = "Largest request body in MiB (img2img uploads are base64 inside it).",
        DefaultValueFactory = _ => Defaults.MaxBodyBytes / (double)(1 << 20),
        Validators = { OptionChecks.Rule<double>(v => v is >= 0.01 and <= 1024 ? null : $"--max-body-mb must be in [0.01, 1024]; got {v}.") },
    };

    /// <summary>Builds the command (registered as <c>latent serve</c>).</summary>
    public static Command Create()
    {
        var command = new Command("serve", "Serve AUTOMATIC1111's HTTP API (/sdapi/v1: txt2img, img2img, progress, ...) and a web page at /, the model loaded once.");
        foreach (Option o in new Option[] { GenerationOptions.Model, GenerationOptions.Config, GenerationOptions.Lora, GenerationOptions.Dtype, GenerationOptions.Runtime,
                     GenerationOptions.OnnxInt8, Host, Port, ApiAuth, Queue, MaxSteps, MaxImages, MaxSide, MaxBodyMb })
            command.Options.Add(o);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        var options = new ServerOptions
        {
            Host = parsed.GetValue(Host)!.Trim(),
            Port = parsed.GetValue(Port),
            ApiAuth = parsed.GetValue(ApiAuth),
            QueueCapacity = parsed.GetValue(Queue),
            MaxSteps = parsed.GetValue(MaxSteps),
            MaxImages = parsed.GetValue(MaxImages),
            MaxSide = parsed.GetValue(MaxSide),
            MaxBodyBytes = (long)(parsed.GetValue(MaxBodyMb) * (1 << 20)),
        };
        options.Validate(); // before the model loads: a refused --host should not cost the load
        string modelDir = GenerationOptions.FindModel(parsed.GetValue(GenerationOptions.Model));
        GlobalOptions.StartEngine(parsed);
        using var pipeline = GenerationOptions.LoadPipeline(parsed, modelDir);

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
        LatentServer server;
        try
        {
            server = LatentServer.StartAsync(pipeline, options).GetAwaiter().GetResult();
        }
        catch (IOException e)
        {
            throw new IOException($"cannot listen on {options.Host}:{options.Port.ToString(CultureInfo.InvariantCulture)}: {e.Message}", e);
        }
        Console.WriteLine($"serving {pipeline.ModelName} at {server.Address} (API: {server.Address}sdapi/v1/, page: {server.Address}); Ctrl+C stops");
        stop.Token.WaitHandle.WaitOne();
        Console.WriteLine("stopping");
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }
}
