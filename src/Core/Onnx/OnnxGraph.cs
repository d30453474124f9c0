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
/// that exist. Names are SSA: every <see cref="Node(string, string[], OnnxAttribute[])"/> gets a fresh output name.
/// Weights are float32 initializers (int8 with float32 scales for linear layers under
/// <see cref="OnnxLinearWeights.DynamicInt8"/>) named after the state-dict key they come from (made unique); a stored form may
/// differ from the parameter (a Linear's weight is stored transposed, a GroupNorm's as [C, 1, 1], GEGLU's projection
/// as its two halves <c>proj.value</c> and <c>proj.gate</c>).</para>
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

    /// <summary>ONNX TensorProto.DataType of int8 (quantised weights, <see cref="OnnxLinearWeights.DynamicInt8"/>).</summary>
    public const int Int8 = 3;

    /// <summary>ONNX TensorProto.DataType of float16.</summary>
    public const int Float16 = 10;

    /// <summary>ONNX TensorProto.DataType of bfloat16.</summary>
    public const int BFloat16 = 16;

    /// <summary>The operator domain of ONNX Runtime's own ("contrib") operators, e.g. <c>DynamicQuantizeMatMul</c>.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>protobuf's limit on one message; a larger model would need ONNX's external data files.</summary>
    public const long MaxModelBytes = int.MaxValue;

    private readonly string name;
    private readonly List<byte[]> nodes = [];
    private readonly List<Initializer> initializers = [];
    private readonly List<byte[]> inputs = [];
    private readonly List<byte[]> outputs = [];
    private readonly HashSet<string> names = [];
    private readonly Dictionary<string, string> constantsByContent = [];
    private readonly SortedSet<string> domains = [];
    private int counter;

    /// <summary>
    /// Whether cross-attention blocks read their keys and values of the text states from graph inputs
    /// (<c>{key}.key</c>, <c>{key}.value</c>) instead of projecting the text in the graph: the U-Net then runs with
    /// keys and values computed once per generation by a second graph (<c>ExportTextKeyValuesOnnx</c>).
    /// </summary>
    public bool TextKeyValueInputs { get; init; }

    /// <summary>
    /// How <see cref="OnnxLayers.Linear(OnnxGraph, string, Tensor, Tensor?, string)"/> stores and multiplies the linear
    /// layers' weights: float32 (the default) or int8 with activations quantised per call.
    /// </summary>
    public OnnxLinearWeights LinearWeights { get; init; } = OnnxLinearWeights.Float32;

    /// <summary>Starts an empty graph.</summary>
    /// <param name="name">The graph's name.</param>
    public OnnxGraph(string name) => this.name = name;

    /// <summary>Declares a float32 graph input.</summary>
    /// <param name="inputName">Its name.</param>
    /// <param name="dims">Each dimension: a <see cref="long"/> (fixed) or a <see cref="string"/> (symbolic, e.g. "batch").</param>
    /// <returns><paramref name="inputName"/>.</returns>
    public string Input(string inputName, params object[] dims) => TypedInput(inputName, Float, dims);

    /// <summary>Declares an int64 graph input (token ids).</summary>
    /// <param name="inputName">Its name.</param>
    /// <param name="dims">Each dimension: a <see cref="long"/> (fixed) or a <see cref="string"/> (symbolic).</param>
    /// <returns><paramref name="inputName"/>.</returns>
    public string Int64Input(string inputName, params object[] dims) => TypedInput(inputName, Int64, dims);

    /// <summary>Declares a graph input of any element type.</summary>
    /// <param name="inputName">Its name.</param>
    /// <param name="dataType">ONNX TensorProto.DataType, e.g. <see cref="Float16"/>.</param>
    /// <param name="dims">Each dimension: a <see cref="long"/> (fixed) or a <see cref="string"/> (symbolic).</param>
    /// <returns><paramref name="inputName"/>.</returns>
    public string TypedInput(string inputName, int dataType, params object[] dims)
    {
        Claim(inputName);
        inputs.Add(ValueInfo(inputName, dataType, dims));
        return inputName;
    }

    /// <summary>Declares a float32 graph output: an existing value (renamed by an Identity node when the names differ).</summary>
    /// <param name="value">The value to output.</param>
    /// <param name="outputName">The output's name.</param>
    /// <param name="dims">Each dimension: a <see cref="long"/> or a <see cref="string"/>.</param>
    public void Output(string value, string outputName, params object[] dims) => TypedOutput(value, outputName, Float, dims);

    /// <summary>Declares a graph output of any element type (see <see cref="Output"/>).</summary>
    /// <param name="value">The value to output.</param>
    /// <param name="outputName">The output's name.</param>
    /// <param name="dataType">ONNX TensorProto.DataType.</param>
    /// <param name="dims">Each dimension: a <see cref="long"/> or a <see cref="string"/>.</param>
    public void TypedOutput(string value, string outputName, int dataType, params object[] dims)
    {
        if (value != outputName)
        {
            Claim(outputName);
            nodes.Add(NodeProto("Identity", [value], [outputName], outputName, [], ""));
        }
        outputs.Add(ValueInfo(outputName, dataType, dims));
    }

    /// <summary>Adds a weight as a float32 initializer (converted from any dtype, copied).</summary>
    /// <param name="key">Its name: the state-dict key it comes from.</param>
    /// <param name="weight">The tensor; not disposed.</param>
    /// <returns>Its name: <paramref name="key"/>, made unique if a value already has that name.</returns>
    public string Weight(string key, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var t = weight.detach().to(ScalarType.Float32).cpu().contiguous();
        return AddInitializer(key, Float, t.shape, t.bytes.ToArray());
    }

    /// <summary>Adds an initializer of any element type from its raw little-endian bytes (e.g. int8 quantised weights).</summary>
    /// <param name="key">Its name (made unique).</param>
    /// <param name="dataType">ONNX TensorProto.DataType, e.g. <see cref="Int8"/>.</param>
    /// <param name="dims">Its shape.</param>
    /// <param name="raw">Row-major element bytes; kept, not copied.</param>
    /// <returns>Its name.</returns>
    public string RawWeight(string key, int dataType, long[] dims, byte[] raw) => AddInitializer(key, dataType, dims, raw);

    /// <summary>Adds a float32 constant, or returns the one already added with the same shape and values.</summary>
    /// <param name="hint">Name hint (made unique).</param>
    /// <param name="values">Row-major values.</param>
    /// <param name="dims">Its shape.</param>
    /// <returns>The constant's name.</returns>
    public string Constant(string hint, float[] values, long[] dims) =>
        SharedConstant(hint, Float, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>Adds an int64 constant (shapes, axes, pads), or returns the one already added with the same values.</summary>
    /// <param name="hint">Name hint (made unique).</param>
    /// <param name="values">The values, as a 1-D tensor.</param>
    /// <returns>The constant's name.</returns>
    public string Ints(string hint, params long[] values) =>
        SharedConstant(hint, Int64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>Adds a node (every op the models use has one output).</summary>
    /// <param name="op">ONNX operator type, e.g. "Conv".</param>
    /// <param name="inputNames">Its inputs ("" for an omitted optional input).</param>
    /// <param name="attributes">Its attributes.</param>
    /// <returns>The output's name.</returns>
    public string Node(string op, string[] inputNames, params OnnxAttribute[] attributes) => DomainNode("", op, inputNames, attributes);

    /// <summary>Adds a node of an operator domain other than ONNX's (e.g. <see cref="MicrosoftDomain"/>, version 1), which
    /// the model then imports.</summary>
    /// <param name="domain">The operator's domain; "" is ONNX's own.</param>
    /// <param name="op">Operator type, e.g. "DynamicQuantizeMatMul".</param>
    /// <param name="inputNames">Its inputs ("" for an omitted optional input).</param>
    /// <param name="attributes">Its attributes.</param>
    /// <returns>The output's name.</returns>
    public string DomainNode(string domain, string op, string[] inputNames, params OnnxAttribute[] attributes)
    {
        foreach (string i in inputNames)
            if (i.Length > 0 && !names.Contains(i))
                throw new ArgumentException($"{op} names input '{i}', which no earlier node, input or initializer defines");
        string nodeName = Fresh(op);
        string output = Fresh($"{nodeName}_out");
        nodes.Add(NodeProto(op, inputNames, [output], nodeName, attributes, domain));
        if (domain.Length > 0) domains.Add(domain);
        return output;
    }

    /// <summary>Serializes the model: a <c>ModelProto</c> with this graph.</summary>
    /// <param name="producer">producer_name.</param>
    /// <returns>The bytes of a .onnx file.</returns>
    /// <exception cref="NotSupportedException">The weights exceed protobuf's 2 GB message limit.</exception>
    public byte[] ToModel(string producer = "Latent")
    {
        // One pass into one array of the exact size: the weights are copied once (nested messages built as separate
        // arrays would copy them once per level). Lengths come from CodedOutputStream's Compute*Size helpers.
        // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
        long graphLength = nodes.Sum(n => MessageFieldSize(1, n.LongLength)) + FieldSize(2, name)
            + initializers.Sum(i => MessageFieldSize(5, i.ProtoLength)) + inputs.Sum(i => MessageFieldSize(11, i.LongLength))
            + outputs.Sum(o => MessageFieldSize(12, o.LongLength));
        byte[] opset = OpsetImport("", Opset);
        // Other domains (ONNX Runtime's contrib operators) at their version 1, only when a node uses them.
        byte[][] extraOpsets = [.. domains.Select(d => OpsetImport(d, 1))];
        // ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2).
        long total = CodedOutputStream.ComputeTagSize(1) + CodedOutputStream.ComputeInt64Size(IrVersion) + FieldSize(2, producer)
            + MessageFieldSize(7, graphLength) + MessageFieldSize(8, opset.Length)
            + extraOpsets.Sum(e => MessageFieldSize(8, e.Length));
        if (total > MaxModelBytes)
            throw new NotSupportedException(
                $"the model is {total / (1 << 20)} MiB; one ONNX file holds at most 2 GiB (protobuf's limit); run this model with LibTorch instead");

        byte[] model = new byte[total];
        var o = new CodedOutputStream(model);
        o.WriteTag(1, WireFormat.WireType.Varint);
        o.WriteInt64(IrVersion);
        WriteString(o, 2, producer);
        o.WriteTag(7, WireFormat.WireType.LengthDelimited);
        o.WriteLength((int)graphLength);
        foreach (var n in nodes) WriteMessage(o, 1, n);
        WriteString(o, 2, name);
        foreach (var i in initializers)
        {
            o.WriteTag(5, WireFormat.WireType.LengthDelimited);
            o.WriteLength((int)i.ProtoLength);
            i.WriteTo(o);
        }
        foreach (var i in inputs) WriteMessage(o, 11, i);
        foreach (var x in outputs) WriteMessage(o, 12, x);
        WriteMessage(o, 8, opset);
        foreach (var e in extraOpsets) WriteMessage(o, 8, e);
        o.CheckNoSpaceLeft();
        return model;
    }

    // OperatorSetIdProto: domain = 1, version = 2.
    private static byte[] OpsetImport(string domain, long version) =>
        Message(s => { WriteString(s, 1, domain); s.WriteTag(2, WireFormat.WireType.Varint); s.WriteInt64(version); });

    // Shapes, pads, ones/zeros of every GroupNorm and the scalars of every GELU repeat across the graph: one
    // initializer each.
    private string SharedConstant(string hint, int dataType, long[] dims, byte[] raw)
    {
        string content = $"{dataType}|{string.Join(',', dims)}|{Convert.ToHexString(raw)}";
        if (!constantsByContent.TryGetValue(content, out string? existing))
            constantsByContent[content] = existing = AddInitializer(hint, dataType, dims, raw);
        return existing;
    }

    private string AddInitializer(string hint, int dataType, long[] dims, byte[] raw)
    {
        string n = Fresh(hint);
        initializers.Add(new Initializer(n, dataType, dims, raw));
        return n;
    }

    private static long FieldSize(int field, string value) => CodedOutputStream.ComputeTagSize(field) + CodedOutputStream.ComputeStringSize(value);

    private static long MessageFieldSize(int field, long length) =>
        CodedOutputStream.ComputeTagSize(field) + CodedOutputStream.ComputeLengthSize((int)length) + length;

    // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian, as on x64).
    private sealed record Initializer(string Name, int DataType, long[] Dims, byte[] Raw)
    {
        public long ProtoLength { get; } = Dims.Sum(d => CodedOutputStream.ComputeTagSize(1) + CodedOutputStream.ComputeInt64Size(d))
            + CodedOutputStream.ComputeTagSize(2) + CodedOutputStream.ComputeInt32Size(DataType) + FieldSize(8, Name)
            + MessageFieldSize(9, Raw.LongLength);

        public void WriteTo(CodedOutputStream o)
        {
            foreach (long d in Dims) { o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(d); }
            o.WriteTag(2, WireFormat.WireType.Varint);
            o.WriteInt32(DataType);
            WriteString(o, 8, Name);
            o.WriteTag(9, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(UnsafeByteOperations.UnsafeWrap(Raw));
        }
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

    // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7.
    private static byte[] NodeProto(string op, string[] ins, string[] outs, string nodeName, OnnxAttribute[] attributes, string domain) => Message(o =>
    {
        foreach (string i in ins) WriteString(o, 1, i);
        foreach (string x in outs) WriteString(o, 2, x);
        WriteString(o, 3, nodeName);
        WriteString(o, 4, op);
        foreach (var a in attributes) WriteMessage(o, 5, a.ToProto());
        if (domain.Length > 0) WriteString(o, 7, domain);
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
