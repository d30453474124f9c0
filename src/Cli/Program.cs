using System.CommandLine;

namespace Latent.Cli;

/// <summary>The <c>latent</c> command-line tool.</summary>
public static class Program
{
    /// <summary>Parses the arguments and runs the command.</summary>
    public static int Main(string[] args) => new RootCommand("Latent: latent text-to-image on a CPU").Parse(args).Invoke();
}
