using System.Text.Json;
using System.Text.Json.Serialization;

namespace Latent.Core.Config;

/// <summary>
/// Reads and writes <see cref="double"/> config values as Python does: any JSON number, or one of
/// <see cref="PythonJson"/>'s markers for a bare <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c>, on read; Python's
/// <c>repr(float)</c> on write (so 1.0 is written <c>1.0</c>, 1e-05 as <c>1e-05</c>, exactly round-tripping).
/// </summary>
/// <remarks>
/// Non-finite values are written as the marker strings, which <see cref="PythonJson.Format"/> turns into the bare
/// tokens; writing bare tokens here would make the intermediate JSON invalid for System.Text.Json itself.
/// </remarks>
public sealed class PythonFloatConverter : JsonConverter<double>
{
    /// <inheritdoc/>
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number)
            return reader.GetDouble();
        if (reader.TokenType == JsonTokenType.String)
        {
            string? s = reader.GetString();
            if (s == PythonJson.NaNMarker) return double.NaN;
            if (s == PythonJson.InfinityMarker) return double.PositiveInfinity;
            if (s == PythonJson.NegativeInfinityMarker) return double.NegativeInfinity;
        }
        throw new JsonException($"expected a number, found {reader.TokenType}.");
    }

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsNaN(value)) writer.WriteStringValue(PythonJson.NaNMarker);
        else if (double.IsPositiveInfinity(value)) writer.WriteStringValue(PythonJson.InfinityMarker);
        else if (double.IsNegativeInfinity(value)) writer.WriteStringValue(PythonJson.NegativeInfinityMarker);
        else writer.WriteRawValue(PythonJson.FormatFloat(value), skipInputValidation: true);
    }
}
