namespace Latent.Cli.Tests;

/// <summary>The collection of test classes that run <c>latent</c> in-process: Console is process-global, so it runs alone.</summary>
[CollectionDefinition(InProcessCli.Collection, DisableParallelization = true)]
public sealed class InProcessCliCollection;

/// <summary>Runs <c>latent</c> in-process through <see cref="Program.Main"/> with stdout and stderr captured.</summary>
/// <remarks>Classes that use it join <c>[Collection(InProcessCli.Collection)]</c>; <see cref="LatentProcess"/> runs the tool as a separate process instead.</remarks>
public static class InProcessCli
{
    /// <summary>The name of the collection that runs alone.</summary>
    public const string Collection = "Latent.Cli.Tests in-process console";

    static readonly object Gate = new();

    /// <summary>The exit code and what the command wrote.</summary>
    public sealed record Result(int Code, string Out, string Err);

    /// <summary>Runs <c>latent <paramref name="args"/></c> and returns its exit code and output.</summary>
    public static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        lock (Gate)
        {
            TextWriter oldOut = Console.Out, oldErr = Console.Error;
            Console.SetOut(stdout);
            Console.SetError(stderr);
            try
            {
                int code = Program.Main(args);
                return new Result(code, stdout.ToString(), stderr.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }
}
