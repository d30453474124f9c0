namespace Latent.Cli.Data;

/// <summary>What <see cref="EmojiDatasetBuilder"/> wrote for one source.</summary>
/// <param name="Source">The short name: <c>twemoji</c>, <c>noto</c> or <c>openmoji</c>.</param>
/// <param name="Package">The npm package, "NAME@VERSION".</param>
/// <param name="License">The images' licence.</param>
/// <param name="Images">Images in the data set.</param>
/// <param name="Captions">Captions over all its images.</param>
/// <param name="Train">Images in the training split.</param>
/// <param name="Validation">Images in the validation split.</param>
/// <param name="Rendered">Images rendered by this run (the rest existed from an earlier run).</param>
/// <param name="Missing">Listed emoji whose image file the package lacks, or (extra sets) whose icon is a flipped or
/// rotated alias (left out).</param>
/// <param name="Failed">Images that could not be rendered, with the reason (left out).</param>
/// <param name="Seconds">Time spent decoding or rasterizing and writing its images.</param>
/// <param name="Unmatched">An extra set's code point sequences that are not among the data set's emoji (left out);
/// null for the default sources.</param>
public sealed record EmojiSourceReport(string Source, string Package, string License, int Images, int Captions,
    int Train, int Validation, int Rendered, int Missing, IReadOnlyList<string> Failed, double Seconds, int? Unmatched = null);

/// <summary>What <see cref="EmojiDatasetBuilder.Build"/> did.</summary>
/// <param name="OutDir">The data set folder.</param>
/// <param name="Sources">One report per source, in build order.</param>
/// <param name="Downloaded">The packages fetched with npm by this run (the others were cached).</param>
/// <param name="Seconds">The whole build's wall time.</param>
/// <param name="DatasetBytes">The size of the images, metadata and README (without the tarball cache).</param>
/// <param name="CacheBytes">The size of the cached tarballs.</param>
public sealed record EmojiDatasetReport(string OutDir, IReadOnlyList<EmojiSourceReport> Sources,
    IReadOnlyList<string> Downloaded, double Seconds, long DatasetBytes, long CacheBytes);

/// <summary>Progress of one stage of the build, for a progress bar.</summary>
/// <param name="Stage">What is being done, e.g. "openmoji: rasterizing".</param>
/// <param name="Done">Items finished.</param>
/// <param name="Total">Items in the stage.</param>
public readonly record struct EmojiBuildProgress(string Stage, int Done, int Total);
