using System.CommandLine;
using Latent.Cli.Commands;

namespace Latent.Cli;

/// <summary>The <c>latent</c> command-line tool: parses arguments into requests and calls the library.</summary>
public static class Program
{
    /// <summary>Parses the arguments and runs the command; returns the process exit code.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("Latent: latent text-to-image (Stable Diffusion family) on a CPU, in C#.");
        root.Options.Add(GlobalOptions.Threads);
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        ParseResult parsed = root.Parse(args);
        return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }
}
