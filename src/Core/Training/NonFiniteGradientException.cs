namespace Latent.Core.Training;

/// <summary>
/// A run stopped because too many steps in a row had a non-finite loss or gradient norm (see <see cref="NonFiniteGradientGuard"/>).
/// </summary>
public sealed class NonFiniteGradientException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="step">The step at which the run stopped (1 for the first step).</param>
    /// <param name="firstParameter">The first parameter, in model order, whose gradient is not finite; null when every gradient is finite.</param>
    /// <param name="message">The message.</param>
    public NonFiniteGradientException(long step, string? firstParameter, string message) : base(message)
    {
        Step = step;
        FirstParameter = firstParameter;
    }

    /// <summary>The step at which the run stopped (1 for the first step).</summary>
    public long Step { get; }

    /// <summary>The first parameter, in model order, whose gradient is not finite; null when every gradient is finite.</summary>
    public string? FirstParameter { get; }
}
