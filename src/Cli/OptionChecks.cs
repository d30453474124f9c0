using System.CommandLine.Parsing;

namespace Latent.Cli;

/// <summary>Option validators that are safe after a conversion error.</summary>
/// <remarks>
/// System.CommandLine 2.0 runs an option's validators even when its token did not convert (<c>--threads many</c>), and
/// reading the value then throws, which would crash the process. <see cref="Rule{T}"/> reads the value only when it
/// converted; the conversion error itself is reported by the parser.
/// </remarks>
public static class OptionChecks
{
    /// <summary>A validator that adds <paramref name="rule"/>'s message, if any, for a converted value.</summary>
    /// <param name="rule">Returns null when the value is fine, else the message with the received and the expected value.</param>
    public static Action<OptionResult> Rule<T>(Func<T, string?> rule) => result =>
    {
        T value;
        try
        {
            value = result.GetValueOrDefault<T>();
        }
        catch (InvalidOperationException)
        {
            return; // did not convert: the parser reports that
        }
        if (rule(value) is { } message) result.AddError(message);
    };
}
