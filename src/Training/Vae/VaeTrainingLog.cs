using Latent.Core.Training;
using Latent.Training.Charts;
using Latent.Vae;

namespace Latent.Training.Vae;

/// <summary>
/// The VAE run's <c>log.jsonl</c> (<c>{"step": 25, "loss": ..., "rec": ...}</c> for averaged training losses,
/// <c>{"step": 500, "val_psnr": ..., "val_ssim": ...}</c> for validations) and its charts <c>loss.png</c>, <c>psnr.png</c>.
/// </summary>
public sealed class VaeTrainingLog(string outDir) : ChartedTrainingLog(outDir)
{
    /// <summary>Draws <c>loss.png</c> (reconstruction loss, log scale) and <c>psnr.png</c> (validation PSNR).</summary>
    public override void SaveCharts()
    {
        SaveChart("loss.png", new LineChartOptions("VAE training loss", YLabel: "per-pixel loss", YScale: YScale.Log10), ("rec", "reconstruction"));
        SaveChart("psnr.png", new LineChartOptions("VAE validation PSNR", YLabel: "dB"), ("val_psnr", "validation PSNR (EMA)"));
    }
}
