using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using Latent.Cli.Commands;

namespace Latent.Cli;

/// <summary>The <c>latent</c> command-line tool: parses arguments into requests and calls the library.</summary>
public static class Program
{
    /// <summary>Parses the arguments and runs the command; returns the exit code (0 ok, 2 user error, 3 engine error).</summary>
    public static int Main(string[] args)
    {
        RootCommand root = BuildRoot();
        ParseResult parsed = root.Parse(args);
        // Under mpiexec -n N (N > 1) only the data-parallel trainers run: N copies of any other command would race on one
        // output. Checked before the arguments, so that every rank of such a launch says why at once.
        if (parsed.Action is not HelpAction && DataParallelSession.Refusal(CommandPath(parsed.CommandResult)["latent".Length..].Trim()) is { } refusal)
        {
            Console.Error.WriteLine(refusal);
            return CommandRunner.UserError;
        }
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            // Usage errors: one line on stderr and exit code 2, like every other user error (no help dump).
            string errors = string.Join(" ", parsed.Errors.Select(e => e.Message.ReplaceLineEndings(" ")));
            Console.Error.WriteLine($"error: {CommandRunner.Printable(errors)} Run '{CommandPath(parsed.CommandResult)} --help' for usage.");
            return CommandRunner.UserError;
        }
        return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>The whole command tree (tests run it in-process).</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Latent: latent text-to-image (Stable Diffusion family) on a CPU, in C#.");
        root.Options.Add(GlobalOptions.Threads);
        root.Subcommands.Add(TxtToImgCommand.Create());
        root.Subcommands.Add(ImgToImgCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        return root;
    }

    // "latent train tokenizer" for the command that was parsed.
    static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = c.Parent)
            names.Insert(0, c.Parent is null ? "latent" : c.Command.Name);
        return string.Join(' ', names);
    }
}
