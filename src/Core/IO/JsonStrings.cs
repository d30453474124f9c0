using System.Text;
using System.Text.Json;

namespace Latent.Core.IO;

/// <summary>
/// Finds the strings that System.Text.Json accepts while parsing but cannot turn into .NET strings: a lone UTF-16
/// surrogate escape such as <c>"\ud800"</c> is valid JSON syntax, yet <c>GetString()</c> (and a property's
/// <c>Name</c>) throw <see cref="InvalidOperationException"/> on it later, far from the file. Every reader of JSON from
/// disk runs this once right after parsing, so such a file becomes the reader's own typed error naming the file.
/// </summary>
/// <remarks>
/// The parser has no option to reject these up front (its UTF-8 validation covers raw bytes, not escapes), so the
/// check walks the parsed document; it costs one decode per string, small next to the parse.
/// </remarks>
public static class JsonStrings
{
    /// <summary>What is wrong with such a string, for messages.</summary>
    public const string Problem = "a string with a lone UTF-16 surrogate escape (such as \\ud800), which is not text";

    /// <summary>The JSON path (<c>$.a.b[3]</c>) of the first property name or string value that does not decode, or null
    /// when all do. A name that does not decode is shown as <c>{key #i}</c> (its position in the object).</summary>
    public static string? FindUndecodable(JsonElement element) => Find(element, new StringBuilder("$"));

    static string? Find(JsonElement element, StringBuilder path)
    {
        int length = path.Length;
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return Decodes(() => element.GetString()) ? null : path.ToString();
            case JsonValueKind.Array:
                int index = 0;
                foreach (JsonElement item in element.EnumerateArray())
                {
                    path.Append('[').Append(index++).Append(']');
                    if (Find(item, path) is { } found) return found;
                    path.Length = length;
                }
                return null;
            case JsonValueKind.Object:
                int position = 0;
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    string? name = null;
                    if (!Decodes(() => name = property.Name))
                        return path.Append(".{key #").Append(position).Append('}').ToString();
                    path.Append('.').Append(name);
                    if (Find(property.Value, path) is { } found) return found;
                    path.Length = length;
                    position++;
                }
                return null;
            default:
                return null;
        }
    }

    static bool Decodes(Func<string?> read)
    {
        try
        {
            read();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
