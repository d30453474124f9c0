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
            return Unwrapped(body, parsed);
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException
                                      or InvalidDataException or FormatException or IOException
                                      or UnauthorizedAccessException or NotSupportedException
                                      or ConfigException or SafeTensorsFormatException or StateDictMismatchException
                                      or NonFiniteGradientException or InsufficientMemoryException)
        {
            return Fail($"error: {OneLine(e)}", UserError, e);
        }
        catch (EngineLoadException e)
        {
            return Fail($"error: {e.Message}", EngineError, e);
        }
        catch (ExternalException e)
        {
            return Fail($"error: the engine failed: {Printable(FirstLine(e.Message))}", EngineError, e);
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
        {
            return Fail($"error: ONNX Runtime failed: {Printable(FirstLine(e.Message))} (--runtime libtorch avoids it)", EngineError, e);
        }
        catch (OutOfMemoryException e)
        {
            return Fail($"error: out of memory: {FirstLine(e.Message)}; try a smaller --size or --n, or close other programs", EngineError, e);
        }
        catch (Exception e)
        {
            return Fail($"internal error ({e.GetType().Name}): {e.Message}. Set LATENT_DEBUG=1 for the stack trace.", InternalError, e);
        }
    };

    // Parallel loops wrap what a body threw in AggregateException: report the first inner exception as if thrown alone.
    static int Unwrapped(Func<ParseResult, int> body, ParseResult parsed)
    {
        try
        {
            return body(parsed);
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.Flatten().InnerExceptions[0]);
            throw; // not reached
        }
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0].TrimEnd('\r');

    /// <summary>
    /// The message as one line: without the " (Parameter 'x')" that ArgumentException appends and the "Actual value
    /// was ..." line of ArgumentOutOfRangeException (our messages already hold the value), other line breaks as "; ".
    /// </summary>
    public static string OneLine(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentOutOfRangeException { ActualValue: not null } range)
            message = message.Replace($"{Environment.NewLine}Actual value was {range.ActualValue}.", "", StringComparison.Ordinal);
        if (e is ArgumentException { ParamName: { } name })
            message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        return Printable(string.Join("; ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
    }

    /// <summary>A message safe for a terminal: control characters from a file or argument (a NUL, an escape sequence)
    /// are shown as \uXXXX instead of being printed.</summary>
    public static string Printable(string message)
    {
        if (!message.Any(char.IsControl)) return message;
        var sb = new System.Text.StringBuilder(message.Length + 16);
        foreach (char c in message) sb.Append(char.IsControl(c) ? $"\\u{(int)c:X4}" : c);
        return sb.ToString();
    }

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
