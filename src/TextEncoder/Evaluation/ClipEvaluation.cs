using System.Globalization;
using System.Text.Json.Nodes;

namespace Latent.TextEncoder.Evaluation;

/// <summary>Retrieval and zero-shot metrics of a CLIP on held-out pairs (see <see cref="ClipEvaluator"/>).</summary>
/// <param name="Pairs">N, the pool size: N images and their N captions.</param>
/// <param name="TextToImageRecall1">Fraction of captions whose nearest image is theirs (or shows the same key).</param>
/// <param name="TextToImageRecall5">The same within the 5 nearest images.</param>
/// <param name="ImageToTextRecall1">Fraction of images whose nearest caption is theirs (or one of the same key).</param>
/// <param name="ImageToTextRecall5">The same within the 5 nearest captions.</param>
/// <param name="ZeroShotAccuracy">Fraction of the labelled images whose most similar class prompt is their class; null without labels.</param>
/// <param name="ZeroShotClasses">C, the number of classes.</param>
/// <param name="ZeroShotImages">Images with a class label.</param>
public sealed record ClipEvaluation(
    int Pairs, double TextToImageRecall1, double TextToImageRecall5, double ImageToTextRecall1, double ImageToTextRecall5,
    double? ZeroShotAccuracy, int ZeroShotClasses, int ZeroShotImages)
{
    /// <summary>The target for the real run: text-to-image recall@5 ≥ 0.8.</summary>
    public const double TargetTextToImageRecall5 = 0.8;

    /// <summary>The target for the real run: text-to-image recall@1 ≥ 0.5.</summary>
    public const double TargetTextToImageRecall1 = 0.5;

    /// <summary>Whether both text-to-image targets are met.</summary>
    public bool MeetsTargets => TextToImageRecall5 >= TargetTextToImageRecall5 && TextToImageRecall1 >= TargetTextToImageRecall1;

    /// <summary>The metrics as a JSON object with snake_case keys (what <c>latent eval text-encoder</c> writes).</summary>
    public JsonObject ToJson() => new()
    {
        ["pairs"] = Pairs,
        ["text_to_image_recall@1"] = Round(TextToImageRecall1),
        ["text_to_image_recall@5"] = Round(TextToImageRecall5),
        ["image_to_text_recall@1"] = Round(ImageToTextRecall1),
        ["image_to_text_recall@5"] = Round(ImageToTextRecall5),
        ["zero_shot_accuracy"] = ZeroShotAccuracy is { } z ? Round(z) : null,
        ["zero_shot_classes"] = ZeroShotClasses,
        ["zero_shot_images"] = ZeroShotImages,
        ["meets_targets"] = MeetsTargets,
    };

    static JsonNode Round(double v) => JsonValue.Create(double.Parse(v.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
}
