using Latent.Core.Training;
using Latent.Pipeline;
using Latent.Training.Charts;

namespace Latent.Training.UNet;

/// <summary>
/// The U-Net run's <c>log.jsonl</c> (<c>{"step": 25, "loss": ..., "grad_norm": ..., "lr": ..., "sec_per_step": ...}</c>,
/// averaged over the logging interval) and its chart <c>loss.png</c>.
/// </summary>
public sealed class UNetTrainingLog(string outDir) : ChartedTrainingLog(outDir)
{
    /// <summary>Draws <c>loss.png</c> (training loss, log scale).</summary>
    public override void SaveCharts() =>
        SaveChart("loss.png", new LineChartOptions("U-Net training loss", YLabel: "MSE", YScale: YScale.Log10), ("loss", "training loss"));
}
