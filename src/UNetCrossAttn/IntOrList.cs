using System.Text.Json;
using System.Text.Json.Serialization;

namespace Latent.UNetCrossAttn;

/// <summary>
/// A diffusers config value that is either one integer for every block or a list with one integer per block
/// (<c>attention_head_dim</c>, <c>num_attention_heads</c>, <c>cross_attention_dim</c>, <c>layers_per_block</c>,
/// <c>transformer_layers_per_block</c>). It is written back in the form it was read.
/// </summary>
/// <param name="Values">The value(s): one entry when <paramref name="IsList"/> is false.</param>
/// <param name="IsList">Whether the file held a list (then <paramref name="Values"/> has one entry per block).</param>
[JsonConverter(typeof(IntOrListConverter))]
public sealed record IntOrList(int[] Values, bool IsList)
{
    /// <summary>One value for every block (written as a bare integer).</summary>
    /// <param name="value">The value.</param>
    public static implicit operator IntOrList(int value) => new([value], false);

    /// <summary>One value per block (written as a list).</summary>
    /// <param name="values">The values, one per block.</param>
    public static implicit operator IntOrList(int[] values) => new(values, true);

    /// <summary>The value for each of <paramref name="blocks"/> blocks, as diffusers expands it (<c>(x,) * len(blocks)</c>).</summary>
    /// <param name="blocks">Number of down blocks.</param>
    /// <returns>An array of length <paramref name="blocks"/>.</returns>
    /// <exception cref="ArgumentException">A list's length differs from <paramref name="blocks"/>.</exception>
    public int[] PerBlock(int blocks)
    {
        if (!IsList) return Enumerable.Repeat(Values[0], blocks).ToArray();
        if (Values.Length != blocks)
            throw new ArgumentException($"expected one value per down block ({blocks}); got {Values.Length}: [{string.Join(", ", Values)}]");
        return (int[])Values.Clone();
    }

    /// <summary>Equality by value (records compare arrays by reference).</summary>
    /// <param name="other">The other value.</param>
    public bool Equals(IntOrList? other) => other is not null && IsList == other.IsList && Values.SequenceEqual(other.Values);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(IsList, Values.Length, Values.FirstOrDefault());

    /// <inheritdoc />
    public override string ToString() => IsList ? $"[{string.Join(", ", Values)}]" : Values[0].ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Reads an integer or a list of integers into <see cref="IntOrList"/> and writes it back in the same form.</summary>
public sealed class IntOrListConverter : JsonConverter<IntOrList>
{
    /// <inheritdoc />
    public override IntOrList Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int single))
            return new IntOrList([single], false);
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new JsonException($"expected an integer or a list of integers; got {reader.TokenType}");
        var values = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int v))
                throw new JsonException($"expected a list of integers; got an item of kind {reader.TokenType}");
            values.Add(v);
        }
        if (values.Count == 0) throw new JsonException("expected an integer or a non-empty list of integers; got []");
        return new IntOrList(values.ToArray(), true);
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, IntOrList value, JsonSerializerOptions options)
    {
        if (!value.IsList)
        {
            writer.WriteNumberValue(value.Values[0]);
            return;
        }
        writer.WriteStartArray();
        foreach (int v in value.Values) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
