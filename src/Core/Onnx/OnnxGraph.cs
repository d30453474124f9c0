using System.Runtime.InteropServices;
using Google.Protobuf;
using static TorchSharp.torch;

namespace Latent.Core.Onnx;

/// <summary>
/// Builds an ONNX model (a <c>ModelProto</c>, opset <see cref="Opset"/>) node by node, so that a module can write its own
/// forward as a graph for ONNX Runtime (<c>ExportOnnx</c> methods of the models, which mirror their <c>forward</c>).
/// </summary>
/// <remarks>
/// <para>Why hand-written: TorchSharp has no ONNX exporter (no tracing), and the <c>onnx</c> package's generated C# classes
/// are not on NuGet; the ONNX schema is a handful of protobuf messages, written here with Google.Protobuf's
/// <see cref="CodedOutputStream"/> (the field numbers are those of onnx.proto, quoted at each message).</para>
/// <para>Nodes are kept in the order they are added, which is a topological order because a node can only name values
/// that exist. Names are SSA: every <see cref="Node(string, string[], OnnxAttribute[])"/> gets fresh output names.
/// Weights are float32 initializers named after the module's state-dict keys.</para>
/// </remarks>
public sealed class OnnxGraph
{
    /// <summary>The ONNX opset the graph uses (LayerNormalization needs 17).</summary>
    public const long Opset = 17;

    /// <summary>ONNX IR version that matches opset 17.</summary>
    public const long IrVersion = 8;

    /// <summary>ONNX TensorProto.DataType of float32.</summary>
    public const int Float = 1;

    /// <summary>ONNX TensorProto.DataType of int64.</summary>
    public const int Int64 = 7;

    /// <summary>protobuf's limit on one message; a model with more weight bytes than this needs external data.</summary>
    public const long MaxModelBytes = int.MaxValue;

    private readonly string name;
    private readonly List<byte[]> nodes = [];
    private readonly List<byte[]> initializers = [];
    private readonly List<byte[]> inputs = [];
    private readonly List<byte[]> outputs = [];
    private readonly HashSet<string> names = [];
    private long weightBytes;
    private int counter;

    /// <summary>Starts an empty graph.</summary>
    /// <param name="name">The graph's name.</param>
    public OnnxGraph(string name) => this.name = name;

    /// <summary>Number of nodes added so far.</summary>
    public int NodeCount => nodes.Count;

    /// <summary>Declares a float32 graph input.</summary>
    /// <param name="inputName">Its name.</param>
    /// <param name="dims">Each dimension: a <see cref="long"/> (fixed) or a <see cref="string"/> (symbolic, e.g. "batch").</param>
    /// <returns><paramref name="inputName"/>.</returns>
    public string Input(string inputName, params object[] dims)
    {
        Claim(inputName);
        inputs.Add(ValueInfo(inputName, Float, dims));
        return inputName;
    }

    /// <summary>Declares a float32 graph output: an existing value (renamed by an Identity node when the names differ).</summary>
    /// <param name="value">The value to output.</param>
    /// <param name="outputName">The output's name.</param>
    /// <param name="dims">Each dimension: a <see cref="long"/> or a <see cref="string"/>.</param>
    public void Output(string value, string outputName, params object[] dims)
    {
        if (value != outputName)
        {
            Claim(outputName);
            nodes.Add(NodeProto("Identity", [value], [outputName], outputName, []));
        }
        outputs.Add(ValueInfo(outputName, Float, dims));
    }

    /// <summary>Adds a weight as a float32 initializer (converted from any dtype, copied).</summary>
    /// <param name="key">Its name: the state-dict key it comes from.</param>
    /// <param name="weight">The tensor; not disposed.</param>
    /// <returns><paramref name="key"/>.</returns>
    public string Weight(string key, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var t = weight.detach().to(ScalarType.Float32).cpu().contiguous();
        return Constant(key, t.data<float>().ToArray(), t.shape);
    }

    /// <summary>Adds a float32 constant.</summary>
    /// <param name="hint">Name hint (made unique).</param>
    /// <param name="values">Row-major values.</param>
    /// <param name="dims">Its shape.</param>
    /// <returns>The constant's name.</returns>
    public string Constant(string hint, float[] values, long[] dims)
    {
        string n = Fresh(hint);
        weightBytes += values.Length * 4L;
        initializers.Add(TensorProto(n, Float, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
        return n;
    }

    /// <summary>Adds an int64 constant (shapes, axes, pads).</summary>
    /// <param name="hint">Name hint (made unique).</param>
    /// <param name="values">The values, as a 1-D tensor.</param>
    /// <returns>The constant's name.</returns>
    public string Ints(string hint, params long[] values)
    {
        string n = Fresh(hint);
        initializers.Add(TensorProto(n, Int64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
        return n;
    }

    /// <summary>Adds a node with one output.</summary>
    /// <param name="op">ONNX operator type, e.g. "Conv".</param>
    /// <param name="inputNames">Its inputs ("" for an omitted optional input).</param>
    /// <param name="attributes">Its attributes.</param>
    /// <returns>The output's name.</returns>
    public string Node(string op, string[] inputNames, params OnnxAttribute[] attributes) =>
        Node(op, inputNames, 1, attributes)[0];

    /// <summary>Adds a node with several outputs.</summary>
    /// <param name="op">ONNX operator type.</param>
    /// <param name="inputNames">Its inputs.</param>
    /// <param name="outputCount">How many outputs it has.</param>
    /// <param name="attributes">Its attributes.</param>
    /// <returns>The outputs' names.</returns>
    public string[] Node(string op, string[] inputNames, int outputCount, params OnnxAttribute[] attributes)
    {
        foreach (string i in inputNames)
            if (i.Length > 0 && !names.Contains(i))
                throw new ArgumentException($"{op} names input '{i}', which no earlier node, input or initializer defines");
        string nodeName = Fresh(op);
        var outs = Enumerable.Range(0, outputCount).Select(k => Fresh($"{nodeName}_out{k}")).ToArray();
        nodes.Add(NodeProto(op, inputNames, outs, nodeName, attributes));
        return outs;
    }

    /// <summary>Serializes the model: a <c>ModelProto</c> with this graph.</summary>
    /// <param name="producer">producer_name.</param>
    /// <returns>The bytes of a .onnx file.</returns>
    /// <exception cref="NotSupportedException">The weights exceed protobuf's 2 GB message limit.</exception>
    public byte[] ToModel(string producer = "Latent")
    {
        if (weightBytes > MaxModelBytes - (64L << 20))
            throw new NotSupportedException(
                $"the graph holds {weightBytes / (1 << 20)} MiB of weights; one ONNX file holds at most 2 GiB (protobuf's limit); run this model with LibTorch instead");
        // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
        byte[] graph = Message(o =>
        {
            foreach (var n in nodes) WriteMessage(o, 1, n);
            WriteString(o, 2, name);
            foreach (var i in initializers) WriteMessage(o, 5, i);
            foreach (var i in inputs) WriteMessage(o, 11, i);
            foreach (var i in outputs) WriteMessage(o, 12, i);
        });
        // ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2).
        return Message(o =>
        {
            o.WriteTag(1, WireFormat.WireType.Varint);
            o.WriteInt64(IrVersion);
            WriteString(o, 2, producer);
            WriteMessage(o, 7, graph);
            WriteMessage(o, 8, Message(s => { WriteString(s, 1, ""); s.WriteTag(2, WireFormat.WireType.Varint); s.WriteInt64(Opset); }));
        });
    }

    private string Fresh(string hint)
    {
        string n = hint;
        while (names.Contains(n)) n = $"{hint}_{++counter}";
        names.Add(n);
        return n;
    }

    private void Claim(string n)
    {
        if (!names.Add(n)) throw new ArgumentException($"the graph already has a value named '{n}'");
    }

    // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
    private static byte[] NodeProto(string op, string[] ins, string[] outs, string nodeName, OnnxAttribute[] attributes) => Message(o =>
    {
        foreach (string i in ins) WriteString(o, 1, i);
        foreach (string x in outs) WriteString(o, 2, x);
        WriteString(o, 3, nodeName);
        WriteString(o, 4, op);
        foreach (var a in attributes) WriteMessage(o, 5, a.ToProto());
    });

    // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian, as on x64).
    private static byte[] TensorProto(string tensorName, int dataType, long[] dims, byte[] raw) => Message(o =>
    {
        foreach (long d in dims) { o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(d); }
        o.WriteTag(2, WireFormat.WireType.Varint);
        o.WriteInt32(dataType);
        WriteString(o, 8, tensorName);
        o.WriteTag(9, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(raw));
    });

    // ValueInfoProto: name = 1, type = 2; TypeProto: tensor_type = 1; TypeProto.Tensor: elem_type = 1, shape = 2;
    // TensorShapeProto: dim = 1; Dimension: dim_value = 1, dim_param = 2.
    private static byte[] ValueInfo(string valueName, int elemType, object[] dims)
    {
        byte[] shape = Message(o =>
        {
            foreach (object d in dims)
                WriteMessage(o, 1, Message(s =>
                {
                    switch (d)
                    {
                        case long v: s.WriteTag(1, WireFormat.WireType.Varint); s.WriteInt64(v); break;
                        case int v: s.WriteTag(1, WireFormat.WireType.Varint); s.WriteInt64(v); break;
                        case string p: WriteString(s, 2, p); break;
                        default: throw new ArgumentException($"a dimension must be a long or a string; got {d?.GetType().Name ?? "null"}");
                    }
                }));
        });
        byte[] tensorType = Message(o => { o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt32(elemType); WriteMessage(o, 2, shape); });
        return Message(o => { WriteString(o, 1, valueName); WriteMessage(o, 2, Message(t => WriteMessage(t, 1, tensorType))); });
    }

    internal static byte[] Message(Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        using (var output = new CodedOutputStream(stream, leaveOpen: true)) write(output);
        return stream.ToArray();
    }

    internal static void WriteMessage(CodedOutputStream o, int field, byte[] message)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(message));
    }

    internal static void WriteString(CodedOutputStream o, int field, string value)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }
}
