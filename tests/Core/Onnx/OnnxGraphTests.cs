using Google.Protobuf;
using Latent.Core.Onnx;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Onnx;

/// <summary>The ONNX writer's bookkeeping and wire format (ONNX Runtime runs its models in the Pipeline tests).</summary>
public class OnnxGraphTests
{
    [Fact]
    public void Node_NamingAnUndefinedValue_Throws_WithTheName()
    {
        var g = new OnnxGraph("g");
        string x = g.Input("x", "batch", 3L);
        var e = Assert.Throws<ArgumentException>(() => g.Node("Add", [x, "y"]));
        Assert.Contains("'y'", e.Message);
    }

    [Fact]
    public void Input_TwiceTheSameName_Throws()
    {
        var g = new OnnxGraph("g");
        g.Input("x", 1L);
        Assert.Throws<ArgumentException>(() => g.Input("x", 1L));
    }

    [Fact]
    public void Output_UnderANameAlreadyTaken_Throws()
    {
        var g = new OnnxGraph("g");
        string x = g.Input("x", 1L);
        string y = g.Node("Relu", [x]);
        Assert.Throws<ArgumentException>(() => g.Output(y, "x", 1L));
    }

    [Fact]
    public void Names_AreUnique_EvenForTheSameHint()
    {
        var g = new OnnxGraph("g");
        string a = g.Ints("shape", 1, 2), b = g.Ints("shape", 3);
        using var w = ones(2, 2);
        string c = g.Weight("shape", w);
        Assert.Equal(3, new[] { a, b, c }.Distinct().Count());
    }

    [Fact]
    public void ToModel_WritesAModelProtoWithTheGraphAndOpset()
    {
        using var scope = NewDisposeScope();
        var g = new OnnxGraph("tiny");
        string x = g.Input("x", "batch", 2L);
        using var w = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2).to(ScalarType.BFloat16);
        string y = g.Node("MatMul", [x, g.Weight("w", w)]);
        g.Output(y, "y", "batch", 2L);
        byte[] model = g.ToModel();

        // ModelProto fields in order: ir_version (1), producer_name (2), graph (7), opset_import (8); nothing after.
        var input = new CodedInputStream(model);
        Assert.Equal(WireFormat.MakeTag(1, WireFormat.WireType.Varint), input.ReadTag());
        Assert.Equal(OnnxGraph.IrVersion, input.ReadInt64());
        Assert.Equal(WireFormat.MakeTag(2, WireFormat.WireType.LengthDelimited), input.ReadTag());
        Assert.Equal("Latent", input.ReadString());
        Assert.Equal(WireFormat.MakeTag(7, WireFormat.WireType.LengthDelimited), input.ReadTag());
        ByteString graph = input.ReadBytes();
        Assert.Equal(WireFormat.MakeTag(8, WireFormat.WireType.LengthDelimited), input.ReadTag());
        var opset = new CodedInputStream(input.ReadBytes().ToByteArray());
        Assert.True(input.IsAtEnd);
        opset.ReadTag(); opset.ReadString();
        opset.ReadTag();
        Assert.Equal(OnnxGraph.Opset, opset.ReadInt64());

        // The graph holds the MatMul, the Identity that names the output, the weight as float32 raw data, and the name.
        string text = System.Text.Encoding.Latin1.GetString(graph.ToByteArray());
        Assert.Contains("MatMul", text);
        Assert.Contains("Identity", text);
        Assert.Contains("tiny", text);
        byte[] raw = new float[] { 1, 2, 3, 4 }.SelectMany(BitConverter.GetBytes).ToArray();
        Assert.Contains(Convert.ToHexString(raw), Convert.ToHexString(graph.ToByteArray()));
    }
}
