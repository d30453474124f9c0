using Latent.Training.Charts;

namespace Latent.Training.UNet;

/// <summary>
/// The classifier run's <c>log.jsonl</c> (<c>{"step": 100, "loss": ..., "batch_accuracy": ..., "grad_norm": ..., "lr": ...}</c>,
/// averaged over the logging interval) and its charts <c>loss.png</c>, <c>accuracy.png</c>.
/// </summary>
public sealed class ClassifierTrainingLog(string outDir) : ChartedTrainingLog(outDir)
{
    /// <summary>Draws <c>loss.png</c> (cross-entropy, log scale) and <c>accuracy.png</c> (top-1 on the noisy batches).</summary>
    public override void SaveCharts()
    {
        SaveChart("loss.png", new LineChartOptions("Classifier training loss", YLabel: "cross-entropy", YScale: YScale.Log10), ("loss", "training loss"));
        SaveChart("accuracy.png", new LineChartOptions("Classifier batch accuracy", YLabel: "top-1"), ("batch_accuracy", "noisy batches"));
    }
}
