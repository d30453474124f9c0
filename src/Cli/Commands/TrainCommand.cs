using System.CommandLine;

namespace Latent.Cli.Commands;

/// <summary><c>latent train</c>: the trainers, one subcommand per model.</summary>
public static class TrainCommand
{
    /// <summary>Builds the command group.</summary>
    public static Command Create()
    {
        var command = new Command("train", "Train the models: the tokenizer, the VAE (then the text encoder and the U-Net).");
        command.Subcommands.Add(TrainTokenizerCommand.Create());
        command.Subcommands.Add(TrainVaeCommand.Create());
        command.Subcommands.Add(TrainTextEncoderCommand.Create());
        command.Subcommands.Add(TrainUNetCommand.Create());
        command.Subcommands.Add(TrainJudgeCommand.Create());
        command.Subcommands.Add(TrainClassifierCommand.Create());
        return command;
    }
}
