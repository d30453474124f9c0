using Latent.Core.Training;
using Latent.TextEncoder;
using Latent.Training.Charts;

namespace Latent.Training.TextEncoder;

/// <summary>
/// The text-encoder run's <c>log.jsonl</c> (<c>{"step": 25, "loss": ..., "logit_scale": ..., "batch_acc": ...}</c> for
/// averaged training numbers, <c>{"step": 500, "val_t2i_r1": ..., ...}</c> for validations) and its charts
/// <c>loss.png</c>, <c>recall.png</c>.
/// </summary>
public sealed class ClipTrainingLog(string outDir) : ChartedTrainingLog(outDir)
{
    /// <summary>Draws <c>loss.png</c> (training loss) and <c>recall.png</c> (validation recall).</summary>
    public override void SaveCharts()
    {
        SaveChart("loss.png", new LineChartOptions("Text-encoder training loss", YLabel: "loss"), ("loss", "InfoNCE loss"));
        SaveChart("recall.png", new LineChartOptions("Validation recall (EMA)", YLabel: "recall"),
            ("val_t2i_r1", "text->image R@1"), ("val_t2i_r5", "text->image R@5"), ("val_i2t_r1", "image->text R@1"), ("val_i2t_r5", "image->text R@5"));
    }
}
