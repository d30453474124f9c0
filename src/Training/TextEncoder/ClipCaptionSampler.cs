using Latent.TextEncoder.Captions;
using Latent.TextEncoder;

namespace Latent.Training.TextEncoder;

/// <summary>
/// Draws the caption of each training pair: one of the image's captions and one template, uniformly, as a pure function
/// of (seed, step, slot in the batch), so a resumed run and a straight run see the same texts.
/// </summary>
/// <param name="seed">The run's seed.</param>
/// <param name="templates">The templates (see <see cref="CaptionTemplates"/>); at least one.</param>
public sealed class ClipCaptionSampler(ulong seed, IReadOnlyList<string> templates)
{
    readonly string[] templates = Checked(templates);

    /// <summary>The caption of the pair in <paramref name="slot"/> of step <paramref name="step"/>.</summary>
    /// <param name="captions">The image's captions (at least one).</param>
    /// <param name="step">The 0-based step.</param>
    /// <param name="slot">The pair's position in the batch.</param>
    /// <exception cref="ArgumentException">No captions.</exception>
    public string Draw(IReadOnlyList<string> captions, long step, int slot)
    {
        ArgumentNullException.ThrowIfNull(captions);
        if (captions.Count == 0) throw new ArgumentException("expected at least one caption; got none", nameof(captions));
        ulong draw = Mix(seed ^ Mix(0xA0761D6478BD642FUL ^ Mix((ulong)step * 0x9E3779B97F4A7C15UL + (ulong)slot)));
        string caption = captions[(int)(draw % (ulong)captions.Count)];
        string template = templates[(int)((draw >> 32) % (ulong)templates.Length)];
        return CaptionTemplates.Apply(template, caption);
    }

    static string[] Checked(IReadOnlyList<string> templates)
    {
        ArgumentNullException.ThrowIfNull(templates);
        if (templates.Count == 0) throw new ArgumentException("expected at least one template; got none", nameof(templates));
        foreach (string t in templates) CaptionTemplates.Validate(t, nameof(templates));
        return [.. templates];
    }

    /// <summary>SplitMix64's finaliser.</summary>
    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
