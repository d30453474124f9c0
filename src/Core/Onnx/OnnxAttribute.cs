using Google.Protobuf;

namespace Latent.Core.Onnx;

/// <summary>One attribute of an ONNX node (an int, a float, a string or a list of ints).</summary>
public sealed class OnnxAttribute
{
    // AttributeProto.AttributeType: FLOAT = 1, INT = 2, STRING = 3, INTS = 7.
    private const int FloatType = 1, IntType = 2, StringType = 3, IntsType = 7;

    private readonly string name;
    private readonly int type;
    private readonly long[] ints = [];
    private readonly float floatValue;
    private readonly string stringValue = "";

    private OnnxAttribute(string name, int type, long[]? ints = null, float floatValue = 0, string? stringValue = null)
    {
        this.name = name;
        this.type = type;
        this.ints = ints ?? [];
        this.floatValue = floatValue;
        this.stringValue = stringValue ?? "";
    }

    /// <summary>An int attribute, e.g. <c>axis</c>.</summary>
    /// <param name="name">Attribute name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttribute Int(string name, long value) => new(name, IntType, ints: [value]);

    /// <summary>An ints attribute, e.g. <c>pads</c>.</summary>
    /// <param name="name">Attribute name.</param>
    /// <param name="values">Its values.</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttribute Ints(string name, params long[] values) => new(name, IntsType, ints: values);

    /// <summary>A float attribute, e.g. <c>epsilon</c>.</summary>
    /// <param name="name">Attribute name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttribute Float(string name, double value) => new(name, FloatType, floatValue: (float)value);

    /// <summary>A string attribute, e.g. <c>mode</c>.</summary>
    /// <param name="name">Attribute name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttribute String(string name, string value) => new(name, StringType, stringValue: value);

    // AttributeProto: name = 1, f = 2, i = 3, s = 4, ints = 8, type = 20.
    internal byte[] ToProto() => OnnxGraph.Message(o =>
    {
        OnnxGraph.WriteString(o, 1, name);
        switch (type)
        {
            case FloatType: o.WriteTag(2, WireFormat.WireType.Fixed32); o.WriteFloat(floatValue); break;
            case IntType: o.WriteTag(3, WireFormat.WireType.Varint); o.WriteInt64(ints[0]); break;
            case StringType: o.WriteTag(4, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFromUtf8(stringValue)); break;
            default: foreach (long v in ints) { o.WriteTag(8, WireFormat.WireType.Varint); o.WriteInt64(v); } break;
        }
        o.WriteTag(20, WireFormat.WireType.Varint);
        o.WriteInt32(type);
    });
}
