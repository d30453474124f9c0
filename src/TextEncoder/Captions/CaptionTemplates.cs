namespace Latent.TextEncoder.Captions;

/// <summary>
/// Caption templates: <c>"{caption}"</c>, <c>"{a} {caption}"</c>, <c>"an emoji of {a} {caption}"</c> turn "cat face"
/// into "cat face", "a cat face" and "an emoji of a cat face", so the encoder learns that the wrapping words of a prompt
/// carry no identity (and the zero-shot prompt "an emoji of ..." is in-distribution).
/// </summary>
public static class CaptionTemplates
{
    /// <summary>The slot for the caption; every template has it exactly once.</summary>
    public const string CaptionSlot = "{caption}";

    /// <summary>The slot for the caption's indefinite article, "a" or "an".</summary>
    public const string ArticleSlot = "{a}";

    /// <summary>The default templates: the bare caption, with an article, and "an emoji of" with an article.</summary>
    public static IReadOnlyList<string> Default { get; } = ["{caption}", "{a} {caption}", "an emoji of {a} {caption}"];

    /// <summary>"an" before a caption that starts with a vowel letter (a, e, i, o, u, any case), else "a".</summary>
    /// <remarks>A spelling rule, not a phonetic one ("a unicorn" comes out "an unicorn"); good enough for a template.</remarks>
    public static string Article(string caption)
    {
        ArgumentNullException.ThrowIfNull(caption);
        string trimmed = caption.TrimStart();
        return trimmed.Length > 0 && "aeiouAEIOU".Contains(trimmed[0]) ? "an" : "a";
    }

    /// <summary>Fills <paramref name="template"/>'s slots with <paramref name="caption"/> and its article.</summary>
    /// <exception cref="ArgumentException">The template does not have exactly one caption slot.</exception>
    public static string Apply(string template, string caption)
    {
        Validate(template, nameof(template));
        ArgumentNullException.ThrowIfNull(caption);
        return template.Replace(ArticleSlot, Article(caption), StringComparison.Ordinal)
                       .Replace(CaptionSlot, caption, StringComparison.Ordinal);
    }

    /// <summary>Throws unless <paramref name="template"/> holds <see cref="CaptionSlot"/> exactly once.</summary>
    /// <param name="template">The template.</param>
    /// <param name="name">Names the setting in the message.</param>
    /// <exception cref="ArgumentException">It does not.</exception>
    public static void Validate(string? template, string name)
    {
        int count = template is null ? 0 : CountOf(template, CaptionSlot);
        if (count != 1)
            throw new ArgumentException($"{name}: template '{template}' has {count} '{CaptionSlot}' slots; expected exactly one.", name);
    }

    static int CountOf(string text, string part)
    {
        int count = 0;
        for (int i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }
}
