using System.CommandLine;
using System.Runtime.InteropServices;
using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.Core.Training;

namespace Latent.Cli;

/// <summary>
/// Runs a command's body and turns failures into one line on stderr and a non-zero exit code: user mistakes and bad
/// files never print a stack trace, and a native engine error does not kill the process.
/// </summary>
public static class CommandRunner
{
    /// <summary>Exit code for a user error (bad argument, missing or corrupt file, empty prompt, wrong size): 2, as for usage errors.</summary>
    public const int UserError = 2;

    /// <summary>Exit code for an engine failure (the native library could not load or an op failed).</summary>
    public const int EngineError = 3;

    /// <summary>Exit code for an unexpected internal error.</summary>
    public const int InternalError = 70;

    /// <summary>Wraps <paramref name="body"/> for <c>Command.SetAction</c>.</summary>
    public static Func<ParseResult, int> Wrap(Func<ParseResult, int> body) => parsed =>
    {
        try
        {
            return body(parsed);
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException
                                      or InvalidDataException or FormatException or IOException
                                      or UnauthorizedAccessException or NotSupportedException
                                      or ConfigException or SafeTensorsFormatException or StateDictMismatchException
                                      or NonFiniteGradientException)
        {
            return Fail($"error: {e.Message}", UserError, e);
        }
        catch (EngineLoadException e)
        {
            return Fail($"error: {e.Message}", EngineError, e);
        }
        catch (ExternalException e)
        {
            return Fail($"error: the engine failed: {e.Message}", EngineError, e);
        }
        catch (Exception e)
        {
            return Fail($"internal error ({e.GetType().Name}): {e.Message}. Set LATENT_DEBUG=1 for the stack trace.", InternalError, e);
        }
    };

    static int Fail(string message, int code, Exception e)
    {
        // Under mpiexec each rank's error names the rank ("error: rank 1 of 2: ..."); MpiLaunch reads only the environment.
        string rank = Latent.Distributed.MpiLaunch.MessagePrefix();
        if (rank.Length > 0) message = message.StartsWith("error: ", StringComparison.Ordinal) ? "error: " + rank + message["error: ".Length..] : rank + message;
        Console.Error.WriteLine(message);
        if (Environment.GetEnvironmentVariable("LATENT_DEBUG") == "1") Console.Error.WriteLine(e);
        return code;
    }
}
