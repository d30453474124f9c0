using System.Text.Json;
using Latent.Core.Data;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Judge;

/// <summary>
/// Labelled images for the judge, held in memory as bytes: the records of an image folder whose <c>unified</c> field
/// folds (<see cref="EmojiCodes.Fold"/>) to one of the classes, with their class ids and vendors (<c>source</c>).
/// </summary>
/// <remarks>12,067 emoji at 64 px take 148 MB as bytes; each batch is converted to float32 in [-1, 1] when taken.</remarks>
public sealed class JudgeImageSet : IDisposable
{
    readonly Tensor pixels;   // [N, 3, S, S] uint8

    JudgeImageSet(Tensor pixels, int[] labels, string[] sources, string[] codes)
    {
        this.pixels = pixels;
        Labels = labels;
        Sources = sources;
        Codes = codes;
    }

    /// <summary>N, the number of images.</summary>
    public int Count => Labels.Count;

    /// <summary>The class id of each image.</summary>
    public IReadOnlyList<int> Labels { get; }

    /// <summary>The vendor of each image (the record's <c>source</c>, "" when absent).</summary>
    public IReadOnlyList<string> Sources { get; }

    /// <summary>The unfolded code of each image (e.g. "1F44D-1F3FD").</summary>
    public IReadOnlyList<string> Codes { get; }

    /// <summary>The classes of a data set: every folded code of its records, in ordinal order, named by the first caption
    /// of a rendering without a skin tone.</summary>
    /// <exception cref="InvalidDataException">A record has no usable <c>unified</c> field.</exception>
    public static List<JudgeClass> ClassesOf(ImageFolderDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var names = new Dictionary<string, (string Name, bool Toned)>(StringComparer.Ordinal);
        foreach (var r in dataset.Records)
        {
            string unified = Unified(dataset, r);
            string code = EmojiCodes.Fold(unified);
            bool toned = EmojiCodes.HasSkinTone(unified);
            if (!names.TryGetValue(code, out var known) || (known.Toned && !toned)) names[code] = (r.Captions[0], toned);
        }
        return names.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new JudgeClass(kv.Key, kv.Value.Name)).ToList();
    }

    /// <summary>Loads the records of <paramref name="dataset"/> accepted by <paramref name="keep"/> whose class is in
    /// <paramref name="classes"/> (others are left out), resized to <paramref name="size"/> px.</summary>
    /// <exception cref="InvalidDataException">An image cannot be decoded or a record has no <c>unified</c> field.</exception>
    public static JudgeImageSet Load(ImageFolderDataset dataset, IReadOnlyList<JudgeClass> classes, int size, Func<ImageFolderRecord, bool>? keep = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(classes);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < classes.Count; i++) index[classes[i].Code] = i;
        var chosen = new List<(int Record, int Label, string Source, string Code)>();
        for (int i = 0; i < dataset.Count; i++)
        {
            var r = dataset.Records[i];
            if (keep is not null && !keep(r)) continue;
            string unified = Unified(dataset, r);
            if (!index.TryGetValue(EmojiCodes.Fold(unified), out int label)) continue;
            string source = r.Fields.TryGetValue("source", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : "";
            chosen.Add((i, label, source, unified));
        }
        int plane = 3 * size * size;
        var bytes = new byte[chosen.Count * plane];
        var imageSize = new ImageSize(size, size);
        Parallel.For(0, chosen.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, i =>
        {
            using var scope = NewDisposeScope();
            var image = dataset.LoadImage(chosen[i].Record, imageSize);                                  // [3, S, S] in [-1, 1]
            var span = image.data<float>();
            for (int k = 0; k < plane; k++) bytes[i * plane + k] = (byte)Math.Clamp(Math.Round((span[k] + 1f) * 127.5f), 0, 255);
        });
        var pixels = tensor(bytes, [chosen.Count, 3, size, size]);
        return new JudgeImageSet(pixels, chosen.Select(c => c.Label).ToArray(), chosen.Select(c => c.Source).ToArray(), chosen.Select(c => c.Code).ToArray());
    }

    /// <summary>Images <paramref name="indices"/> as float32 [b, 3, S, S] in [-1, 1].</summary>
    public Tensor Take(IReadOnlyList<int> indices)
    {
        using var scope = NewDisposeScope();
        using var index = tensor(indices.Select(i => (long)i).ToArray());
        var x = pixels.index_select(0, index).to(ScalarType.Float32).div(Core.Engine.Scalars.Of(127.5)).sub(Core.Engine.Scalars.One);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The indices of the images of each class (empty lists for classes without images).</summary>
    public List<int>[] ByClass(int classCount)
    {
        var by = Enumerable.Range(0, classCount).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < Count; i++) by[Labels[i]].Add(i);
        return by;
    }

    static string Unified(ImageFolderDataset dataset, ImageFolderRecord r) =>
        r.Fields.TryGetValue("unified", out var u) && u.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(u.GetString())
            ? u.GetString()!
            : throw new InvalidDataException($"{Path.Combine(dataset.Folder, ImageFolderDataset.MetadataFile)} line {r.Line}: '{r.FileName}' has no \"unified\" code; the judge needs it to know the emoji.");

    /// <inheritdoc />
    public void Dispose() => pixels.Dispose();
}
