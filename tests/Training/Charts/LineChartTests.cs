using Latent.Core.Tests.Imaging;
using Latent.Training.Charts;
using SkiaSharp;
using Xunit;

namespace Latent.Training.Tests.Charts;

public class LineChartTests
{
    static readonly ChartSeries Loss = new("loss", [0, 100, 200, 300], [1.0, 0.4, 0.1, 0.05]);
    static readonly ChartSeries Val = new("val loss", [0, 150, 300], [1.1, 0.3, 0.08]);

    [Fact]
    public void Save_WritesPngOfTheRequestedSize()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "loss.png");
        LineChart.Save(path, [Loss, Val], new LineChartOptions("Training loss", YLabel: "MSE", YScale: YScale.Log10, Width: 640, Height: 360));
        byte[] png = File.ReadAllBytes(path);
        Assert.All(MiniPng.Parse(png), c => Assert.True(c.CrcOk));
        using var codec = SKCodec.Create(SKData.CreateCopy(png));
        Assert.Equal(SKEncodedImageFormat.Png, codec.EncodedFormat);
        Assert.Equal((640, 360), (codec.Info.Width, codec.Info.Height));
    }

    [Fact]
    public void RenderPng_DrawsTitleGlyphs()
    {
        // Two titles of equal length give the same layout; only drawn glyphs can make the images differ. Without a
        // font (no fonts-dejavu-core) ChartFonts throws; were it to render anyway, both images would be identical.
        var options = new LineChartOptions("AAAAAAAAAAAAA", Width: 400, Height: 300);
        byte[] a = TestImages.DecodeRgba(LineChart.RenderPng([Loss], options), out int w, out int h);
        byte[] b = TestImages.DecodeRgba(LineChart.RenderPng([Loss], options with { Title = "Training loss" }), out _, out _);
        int changed = Enumerable.Range(0, w * h).Count(i => a[4 * i] != b[4 * i]);
        Assert.True(changed > 100, $"only {changed} pixels changed with the title's text: is a font installed (fonts-dejavu-core)?");
    }

    [Fact]
    public void RenderPng_MarkersAndAnOutsideLegendChangeTheImageNotItsSize()
    {
        var options = new LineChartOptions("Judge", Width: 500, Height: 300);
        byte[] plain = TestImages.DecodeRgba(LineChart.RenderPng([Loss, Val], options), out int w, out int h);
        byte[] marked = TestImages.DecodeRgba(LineChart.RenderPng([Loss, Val], options with { Markers = true }), out int w2, out int h2);
        byte[] outside = TestImages.DecodeRgba(LineChart.RenderPng([Loss, Val], options with { LegendOutside = true }), out _, out _);
        Assert.Equal((w, h), (w2, h2));
        Assert.NotEqual(plain, marked);
        Assert.NotEqual(plain, outside);
    }

    // ---- validation: one test per rule ----

    [Fact]
    public void RenderPng_ThrowsForNoSeries() =>
        Assert.Throws<ArgumentException>(() => LineChart.RenderPng([], new LineChartOptions("t")));

    [Fact]
    public void RenderPng_ThrowsForMismatchedLengths()
    {
        var e = Assert.Throws<ArgumentException>(() => LineChart.RenderPng([new ChartSeries("s", [1, 2], [1])], new LineChartOptions("t")));
        Assert.Contains("'s'", e.Message);
    }

    [Fact]
    public void RenderPng_ThrowsForNonFiniteValue()
    {
        var e = Assert.Throws<ArgumentException>(() => LineChart.RenderPng([new ChartSeries("s", [1, 2], [1, double.NaN])], new LineChartOptions("t")));
        Assert.Contains("index 1", e.Message);
    }

    [Fact]
    public void RenderPng_ThrowsForNonPositiveValueOnLogAxis()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            LineChart.RenderPng([new ChartSeries("s", [1, 2], [1, 0])], new LineChartOptions("t", YScale: YScale.Log10)));
        Assert.Contains("log10", e.Message);
    }

    [Fact]
    public void RenderPng_ThrowsForTinySize() =>
        Assert.Throws<ArgumentException>(() => LineChart.RenderPng([Loss], new LineChartOptions("t", Width: 10)));
}
