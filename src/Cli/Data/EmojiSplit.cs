using System.IO.Hashing;
using System.Text;

namespace Latent.Cli.Data;

/// <summary>
/// Splits emoji images into training and validation by holding out renderings, not emoji: a validation image shows an
/// emoji that training also shows, drawn by another source, so every emoji is learnt and validation measures how well
/// the model generalizes across styles.
/// </summary>
/// <remarks>
/// The rule, a pure function of (key, source), so it is deterministic and stable when other emoji are added:
/// <list type="number">
/// <item>Each image gets <c>u = XxHash64(UTF-8 "KEY/SOURCE") / 2^64</c>, uniform in [0, 1).</item>
/// <item>An emoji drawn by one source only keeps its image in training.</item>
/// <item>Otherwise an image is a validation candidate when <c>u &lt; fraction</c>.</item>
/// <item>When every image of an emoji is a candidate, the one with the largest <c>u</c> goes back to training.</item>
/// </list>
/// So about <c>fraction</c> of the images of emoji with several renderings go to validation (slightly fewer of all images,
/// since OpenMoji's own extras have one rendering each), and no emoji is missing from training.
/// </remarks>
public static class EmojiSplit
{
    /// <summary>The training split's name.</summary>
    public const string Train = "train";

    /// <summary>The validation split's name.</summary>
    public const string Validation = "validation";

    /// <summary>The default share of renderings held out: 5%.</summary>
    public const double DefaultFraction = 0.05;

    /// <summary>The split of each image, in the order given.</summary>
    /// <param name="images">(emoji key, source) per image; a pair should occur once.</param>
    /// <param name="fraction">The share of eligible renderings to hold out, in [0, 1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is outside [0, 1).</exception>
    public static string[] Assign(IReadOnlyList<(string Key, string Source)> images, double fraction = DefaultFraction)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (!(fraction >= 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "expected a validation fraction in [0, 1)");
        var split = new string[images.Count];
        foreach (var group in Enumerable.Range(0, images.Count).GroupBy(i => images[i].Key, StringComparer.Ordinal))
        {
            int[] members = group.ToArray();
            var u = members.ToDictionary(i => i, i => Uniform(images[i].Key, images[i].Source));
            var candidates = members.Length > 1 ? members.Where(i => u[i] < fraction).ToList() : [];
            if (candidates.Count == members.Length) candidates.Remove(candidates.MaxBy(i => u[i]));
            foreach (int i in members) split[i] = candidates.Contains(i) ? Validation : Train;
        }
        return split;
    }

    /// <summary>The split of an extra rendering (<c>--extra-sets</c>) of an emoji that <see cref="Assign"/> already put in
    /// training: validation when <c>u &lt; fraction</c>, else train. Assigned apart so that the default images keep their
    /// split whether or not extra sets are added, and judges trained with and without them see the same validation set.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is outside [0, 1).</exception>
    public static string AssignExtra(string key, string source, double fraction = DefaultFraction)
    {
        if (!(fraction >= 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "expected a validation fraction in [0, 1)");
        return Uniform(key, source) < fraction ? Validation : Train;
    }

    /// <summary><c>XxHash64("KEY/SOURCE") / 2^64</c>: the image's fixed uniform draw.</summary>
    public static double Uniform(string key, string source)
    {
        ulong h = XxHash64.HashToUInt64(Encoding.UTF8.GetBytes($"{key}/{source}"));
        return (h >> 11) * (1.0 / (1UL << 53));
    }
}
