using SkiaSharp;

namespace Latent.Training.Charts;

/// <summary>Picks the font that charts draw text with, and fails loudly when the machine has none.</summary>
/// <remarks>
/// The SkiaSharp.NativeAssets.Linux.NoDependencies build has no fontconfig: its font manager scans the font files under
/// <c>/usr/share/fonts</c> itself. With no font there, every typeface is empty and a chart renders without any text,
/// silently. On Debian, <c>apt-get install fonts-dejavu-core</c> provides DejaVu Sans (fontconfig is not needed). Skia
/// lists families in scan order, which made ScottPlot's automatic choice DejaVu Serif; we prefer a sans family.
/// </remarks>
static class ChartFonts
{
    static readonly string[] Preferred = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "FreeSans", "Arial"];
    static readonly Lazy<string> Family = new(Resolve);

    /// <summary>The font family for chart text.</summary>
    /// <exception cref="InvalidOperationException">Skia found no font on this machine.</exception>
    public static string Get() => Family.Value;

    static string Resolve()
    {
        // With no font files Skia still lists one family, named "", whose typeface has no glyphs.
        string[] families = SKFontManager.Default.GetFontFamilies().Where(HasGlyphs).ToArray();
        foreach (string name in Preferred)
        {
            if (families.Contains(name, StringComparer.OrdinalIgnoreCase))
                return name;
        }
        if (families.Length > 0)
            return families[0];
        throw new InvalidOperationException(
            "no fonts found, so chart text cannot render: Skia (NoDependencies build) reads font files from /usr/share/fonts. " +
            "Install one, e.g. `apt-get install fonts-dejavu-core`.");
    }

    static bool HasGlyphs(string family)
    {
        if (string.IsNullOrWhiteSpace(family))
            return false;
        using SKTypeface? typeface = SKFontManager.Default.MatchFamily(family);
        return typeface is { GlyphCount: > 0 };
    }
}
