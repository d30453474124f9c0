using Latent.Core.Onnx;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Onnx;

/// <summary>Per-output-channel symmetric int8 weights (ONNX Runtime runs the quantised U-Net in the Pipeline tests).</summary>
public class OnnxQuantizationTests
{
    [Fact]
    public void Int8PerOutputChannel_MatchesHandComputedValues_Transposed()
    {
        // W [2 out, 3 in]: row 0 max |w| = 2 -> scale 2/127; row 1 max |w| = 0.5 -> scale 0.5/127.
        float[] w = [2f, -1f, 0.5f, 0.25f, -0.5f, 0f];
        var (q, scales) = OnnxQuantization.Int8PerOutputChannel(w, outFeatures: 2, inFeatures: 3);
        Assert.Equal([2f / 127, 0.5f / 127], scales);
        // [in, out]: q[i, o] = round(W[o, i] / scale_o), ties to even: -1 / (2/127) = -63.5 -> -64; 0.5 / (2/127) = 31.75 -> 32.
        Assert.Equal(new sbyte[] { 127, 64, -64, -127, 32, 0 }, q);
    }

    [Fact]
    public void Int8PerOutputChannel_ErrorIsAtMostHalfAStep()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        float[] w = randn([16, 24], generator: generator).data<float>().ToArray();
        var (q, scales) = OnnxQuantization.Int8PerOutputChannel(w, 16, 24);
        for (int o = 0; o < 16; o++)
            for (int i = 0; i < 24; i++)
                Assert.True(Math.Abs(q[i * 16 + o] * scales[o] - w[o * 24 + i]) <= scales[o] / 2 * 1.0001f, $"w[{o}, {i}]");
    }

    [Fact]
    public void Int8PerOutputChannel_AllZeroRow_GetsScaleOne()
    {
        var (q, scales) = OnnxQuantization.Int8PerOutputChannel([0f, 0f, 1f, -1f], 2, 2);
        Assert.Equal([1f, 1f / 127], scales);
        Assert.Equal(new sbyte[] { 0, 127, 0, -127 }, q);
    }

    [Fact]
    public void Int8PerOutputChannel_NonFiniteWeight_Throws_NamingTheRow()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxQuantization.Int8PerOutputChannel([1f, 2f, float.NaN, 0f], 2, 2));
        Assert.Contains("row 1", e.Message);
        Assert.Contains("NaN", e.Message);
    }

    [Fact]
    public void Int8PerOutputChannel_WrongLength_Throws_NamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxQuantization.Int8PerOutputChannel([1f, 2f, 3f], 2, 2));
        Assert.Contains("2 x 2 = 4", e.Message);
        Assert.Contains("got 3", e.Message);
    }

    [Fact]
    public void Linear_OnAnInt8Graph_WritesOneContribNode_AndImportsItsDomain()
    {
        var g = new OnnxGraph("g") { LinearWeights = OnnxLinearWeights.DynamicInt8 };
        string x = g.Input("x", "batch", 3L);
        using var w = ones(2, 3);
        using var b = zeros(2);
        g.Output(g.Linear("fc", w, b, x), "y", "batch", 2L);
        string text = System.Text.Encoding.Latin1.GetString(g.ToModel());
        Assert.Contains("DynamicQuantizeMatMul", text);
        Assert.Contains(OnnxGraph.MicrosoftDomain, text);
        Assert.DoesNotContain("MatMul_", text.Replace("DynamicQuantizeMatMul", ""));
    }

    [Fact]
    public void DynamicInt8Linear_WeightNotTwoDimensional_Throws_NamingTheShape()
    {
        var g = new OnnxGraph("g");
        string x = g.Input("x", 3L);
        using var w = ones(2, 3, 1);
        var e = Assert.Throws<ArgumentException>(() => OnnxQuantization.DynamicInt8Linear(g, "fc", w, null, x));
        Assert.Contains("[2, 3, 1]", e.Message);
    }
}
