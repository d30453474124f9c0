using System.Text;
using System.Text.Json;

namespace Latent.Cli.Data;

/// <summary>
/// An extra emoji art style for the data set (<c>latent data emoji --extra-sets</c>): an Iconify JSON package from npm
/// (<c>@iconify-json/NAME</c>) whose <c>chars.json</c> maps code points to icons. Each icon body is wrapped in an SVG
/// document and rendered like OpenMoji's SVGs; each image takes the captions of the data set's emoji of the same code
/// points.
/// </summary>
/// <param name="Name">The set's name: the option's value, the <c>source</c> in the metadata and the image folder.</param>
/// <param name="Package">The npm package, pinned.</param>
/// <param name="License">The images' licence, as the SPDX id of the package's <c>info.json</c> (checked when read).</param>
/// <remarks>
/// The package layout (Iconify JSON, https://iconify.design/docs/types/iconify-json.html): <c>icons.json</c> =
/// <c>{prefix, icons: {name: {body, width?, height?}}, aliases: {name: {parent, width?, height?, hFlip?, vFlip?,
/// rotate?}}, width, height}</c>; <c>chars.json</c> = <c>{"1f600": "grinning-face", ...}</c>, lower-case code points
/// without FE0F; <c>info.json</c> = <c>{name, author: {name, url}, license: {title, spdx, url}}</c>. The packages hold no
/// licence file: <c>info.json</c>'s author and licence are what <c>licenses/</c> gets. Hand-written rather than a library:
/// no .NET Iconify reader exists, and the part needed (look up, resolve a plain alias, wrap) is a few lines.
/// </remarks>
/// <param name="Notice">The licence text the package does not carry (the upstream project's LICENSE), written under the credit
/// in <c>licenses/</c>: MIT asks for its copyright and permission notice to go with every copy.</param>
public sealed record IconifyEmojiSet(string Name, NpmPackage Package, string License, string Notice)
{
    /// <summary>The MIT licence text (SPDX "MIT") with its copyright line.</summary>
    public static string MitNotice(string copyright) =>
        $"""
        MIT License

        Copyright (c) {copyright}

        Permission is hereby granted, free of charge, to any person obtaining a copy
        of this software and associated documentation files (the "Software"), to deal
        in the Software without restriction, including without limitation the rights
        to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
        copies of the Software, and to permit persons to whom the Software is
        furnished to do so, subject to the following conditions:

        The above copyright notice and this permission notice shall be included in all
        copies or substantial portions of the Software.

        THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
        IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
        FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
        AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
        LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
        OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
        SOFTWARE.
        """;

    /// <summary>The sets that <c>--extra-sets</c> accepts, pinned (checked with <c>npm view</c>). Apple's and Facebook's
    /// sets are deliberately absent: they are not freely licensed.</summary>
    public static readonly IReadOnlyList<IconifyEmojiSet> Known =
    [
        new("fluent-emoji-flat", new NpmPackage("@iconify-json/fluent-emoji-flat", "1.2.6"), "MIT", MitNotice("Microsoft Corporation.")),
    ];

    /// <summary>Free sets on npm that are refused, with the reason: their <c>chars.json</c> is empty, so no icon can be
    /// tied to an emoji by its code points (their icons are named, not coded).</summary>
    public static readonly IReadOnlyDictionary<string, string> Unusable = new Dictionary<string, string>
    {
        ["fxemoji"] = "@iconify-json/fxemoji@1.2.2 (Apache-2.0) has an empty chars.json: no code points to match its icons to emoji",
        ["emojione"] = "@iconify-json/emojione@1.2.3 (CC-BY-4.0) has an empty chars.json: no code points to match its icons to emoji",
        ["streamline-emojis"] = "@iconify-json/streamline-emojis@1.2.4 (CC-BY-4.0) has an empty chars.json: no code points to match its icons to emoji",
    };

    /// <summary>Licences accepted for training images (SPDX ids).</summary>
    public static readonly IReadOnlySet<string> FreeLicenses = new HashSet<string> { "MIT", "Apache-2.0", "CC-BY-4.0" };

    /// <summary>The sets named by <c>--extra-sets</c> ("a,b"), in <see cref="Known"/>'s order, each once.</summary>
    /// <exception cref="ArgumentException">A name is not in <see cref="Known"/>; the message names it and the allowed ones.</exception>
    public static IReadOnlyList<IconifyEmojiSet> Parse(string? names)
    {
        var wanted = (names ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string n in wanted)
        {
            if (Known.Any(k => k.Name == n)) continue;
            string allowed = string.Join(", ", Known.Select(k => k.Name));
            throw new ArgumentException(Unusable.TryGetValue(n, out string? why)
                ? $"--extra-sets: '{n}' cannot be used: {why}; allowed: {allowed}"
                : $"--extra-sets: unknown set '{n}'; allowed: {allowed}");
        }
        return Known.Where(k => wanted.Contains(k.Name)).ToList();
    }

    /// <summary>Checks <c>info.json</c>'s licence against <see cref="License"/> and returns the set's credit line (name,
    /// author, licence and their addresses), for the README and <c>licenses/</c>.</summary>
    /// <exception cref="InvalidDataException">The licence differs from the pinned one or is not free.</exception>
    public string CheckLicense(string infoJson)
    {
        using var doc = Parse(infoJson, "info.json");
        JsonElement info = doc.RootElement;
        JsonElement license = Member(info, "license", "info.json");
        string spdx = StringOf(license, "spdx", "info.json license");
        if (spdx != License || !FreeLicenses.Contains(spdx))
            throw new InvalidDataException($"{Package}/info.json: licence '{spdx}'; expected {License} (free: {string.Join(", ", FreeLicenses)})");
        JsonElement author = Member(info, "author", "info.json");
        return $"{StringOf(info, "name", "info.json")} by {StringOf(author, "name", "info.json author")} ({StringOf(author, "url", "info.json author")}), " +
               $"licence {StringOf(license, "title", "info.json license")} ({StringOf(license, "url", "info.json license")}), via the npm package {Package}";
    }

    /// <summary>Each emoji's SVG document, by <see cref="EmojiCaptions.Key"/> of its code points.</summary>
    /// <param name="charsJson">The text of <c>chars.json</c>.</param>
    /// <param name="iconsJson">The text of <c>icons.json</c>.</param>
    /// <returns>The documents, and the code points left out because their icon is a flipped or rotated alias (an
    /// Iconify transform that would need its own SVG wrapping; few icons use one).</returns>
    /// <exception cref="InvalidDataException">A file is not what Iconify writes, or a code point names no icon.</exception>
    public (Dictionary<string, byte[]> Svgs, int Transformed) ReadSvgs(string charsJson, string iconsJson)
    {
        using var chars = Parse(charsJson, "chars.json");
        using var iconsDoc = Parse(iconsJson, "icons.json");
        JsonElement root = iconsDoc.RootElement;
        JsonElement icons = Member(root, "icons", "icons.json");
        JsonElement aliases = root.TryGetProperty("aliases", out var a) ? a : default;
        int width = IntOr(root, "width", 16), height = IntOr(root, "height", 16); // Iconify's defaults when a set gives none
        var svgs = new Dictionary<string, byte[]>();
        int transformed = 0;
        foreach (var c in chars.RootElement.EnumerateObject())
        {
            string iconName = c.Value.ValueKind == JsonValueKind.String ? c.Value.GetString()!
                : throw new InvalidDataException($"{Package}/chars.json: \"{c.Name}\" maps to {c.Value.GetRawText()}, not an icon name");
            // A plain alias ({parent}, maybe its own size) renders its parent; one with hFlip, vFlip or rotate is left out.
            JsonElement? alias = aliases.ValueKind == JsonValueKind.Object && aliases.TryGetProperty(iconName, out var al) ? al : null;
            if (alias is { } x && (x.TryGetProperty("hFlip", out _) || x.TryGetProperty("vFlip", out _) || x.TryGetProperty("rotate", out _)))
            {
                transformed++;
                continue;
            }
            string target = alias is { } p ? StringOf(p, "parent", $"icons.json alias {iconName}") : iconName;
            if (!icons.TryGetProperty(target, out var icon))
                throw new InvalidDataException($"{Package}/chars.json: \"{c.Name}\" names icon '{iconName}', which icons.json lacks");
            int w = alias is { } aw && aw.TryGetProperty("width", out _) ? IntOr(aw, "width", width) : IntOr(icon, "width", width);
            int h = alias is { } ah && ah.TryGetProperty("height", out _) ? IntOr(ah, "height", height) : IntOr(icon, "height", height);
            // xmlns:xlink is declared for bodies that use xlink:href (none of the pinned sets does, but Iconify allows it).
            string svg = $"<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" viewBox=\"0 0 {w} {h}\">" +
                         $"{StringOf(icon, "body", $"icons.json icon {target}")}</svg>";
            svgs[EmojiCaptions.Key(c.Name)] = Encoding.UTF8.GetBytes(svg);
        }
        return (svgs, transformed);
    }

    JsonDocument Parse(string json, string file)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{Package}/{file} is not valid JSON: {e.Message}", e); }
        if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
        doc.Dispose();
        throw new InvalidDataException($"{Package}/{file}: expected a JSON object; got a {doc.RootElement.ValueKind}");
    }

    JsonElement Member(JsonElement e, string field, string what) =>
        e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Object ? v
            : throw new InvalidDataException($"{Package}/{what}: expected an object \"{field}\"");

    string StringOf(JsonElement e, string field, string what) =>
        e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new InvalidDataException($"{Package}/{what}: expected a string \"{field}\"");

    int IntOr(JsonElement e, string field, int fallback) =>
        !e.TryGetProperty(field, out var v) ? fallback
            : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n > 0 ? n
            : throw new InvalidDataException($"{Package}: expected a positive whole \"{field}\"; got {v.GetRawText()}");
}
