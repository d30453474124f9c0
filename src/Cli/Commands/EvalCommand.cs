using System.CommandLine;

namespace Latent.Cli.Commands;

/// <summary><c>latent eval</c>: the evaluations, one subcommand per model.</summary>
public static class EvalCommand
{
    /// <summary>Builds the command group.</summary>
    public static Command Create()
    {
        var command = new Command("eval", "Evaluate trained models on the validation split.");
        command.Subcommands.Add(EvalVaeCommand.Create());
        command.Subcommands.Add(EvalTextEncoderCommand.Create());
        command.Subcommands.Add(EvalTxtToImgCommand.Create());
        command.Subcommands.Add(EvalCompareCommand.Create());
        return command;
    }
}
