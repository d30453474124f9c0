using System.Buffers.Binary;
using System.Text;
using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.IO;

public class SafeTensorsFormatTests
{
    static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void Open_ReadsAFileWrittenByHandToTheSpec()
    {
        // Unpadded header, metadata last, tensors not in data order: all allowed by the spec.
        string header =
            """{"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"""
            + ""","h":{"dtype":"F16","shape":[1,1],"data_offsets":[16,18]},"g":{"dtype":"BF16","shape":[1],"data_offsets":[18,20]}"""
            + ""","m":{"dtype":"BOOL","shape":[2],"data_offsets":[20,22]},"e":{"dtype":"U8","shape":[0],"data_offsets":[22,22]}"""
            + ""","__metadata__":{"k":"v"}}""";
        byte[] data = [.. Floats(1.5f, -2f), .. BitConverter.GetBytes(7L), 0x00, 0x3C, 0x80, 0x3F, 1, 0];
        string path = RawSafeTensors.Write("hand.safetensors", header, data);

        using var scope = NewDisposeScope();
        using var file = SafeTensors.Open(path);
        Assert.Equal(["b", "a", "h", "g", "m", "e"], file.Keys);
        Assert.Equal(new Dictionary<string, string> { ["k"] = "v" }, file.Metadata);
        Assert.Equal([1.5f, -2f], file.ReadTensor("a").data<float>().ToArray());
        var b = file.ReadTensor("b");
        Assert.Equal((ScalarType.Int64, 0L, 7L), (b.dtype, (long)b.shape.Length, b.item<long>()));
        var h = file.ReadTensor("h");
        Assert.Equal((ScalarType.Float16, 1f), (h.dtype, h.to(ScalarType.Float32).item<float>()));
        var g = file.ReadTensor("g");
        Assert.Equal((ScalarType.BFloat16, 1f), (g.dtype, g.to(ScalarType.Float32).item<float>()));
        Assert.Equal([true, false], file.ReadTensor("m").data<bool>().ToArray());
        Assert.Equal([0L], file.ReadTensor("e").shape);
    }

    [Fact]
    public void Save_WritesExactlyTheBytesTheSpecDescribes()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(TestEnvironment.NewTempDir(), "spec.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = tensor(new[] { 1.5f, -2f }), ["i"] = tensor(7L) },
            new Dictionary<string, string> { ["format"] = "pt" });

        string json = """{"__metadata__":{"format":"pt"},"i":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""";
        json = json.PadRight((json.Length + 7) / 8 * 8);
        byte[] expected = RawSafeTensors.Build(Encoding.UTF8.GetBytes(json), [.. BitConverter.GetBytes(7L), .. Floats(1.5f, -2f)]);
        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    const string Good = """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";

    public static TheoryData<string, string, int, string?, string> HeaderViolations => new()
    {
        // case, header, data bytes, tensor named in the message (null: none), fragment of the message
        { "not-json", "{not json", 0, null, "not valid JSON" },
        { "not-object", "[1,2]", 0, null, "must be a JSON object" },
        { "entry-not-object", """{"t":3}""", 0, "t", "must be an object" },
        { "no-dtype", """{"t":{"shape":[2],"data_offsets":[0,8]}}""", 8, "t", "no 'dtype'" },
        { "no-shape", """{"t":{"dtype":"F32","data_offsets":[0,8]}}""", 8, "t", "no 'shape'" },
        { "no-offsets", """{"t":{"dtype":"F32","shape":[2]}}""", 8, "t", "no 'data_offsets'" },
        { "dtype-not-string", """{"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}""", 8, "t", "'dtype' must be a string" },
        { "shape-not-array", """{"t":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}""", 8, "t", "'shape' must be an array" },
        { "shape-fraction", """{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}""", 8, "t", "'shape' must be an array of integers" },
        { "offsets-one", """{"t":{"dtype":"F32","shape":[2],"data_offsets":[8]}}""", 8, "t", "'data_offsets' must be an array [begin, end]" },
        { "offsets-strings", """{"t":{"dtype":"F32","shape":[2],"data_offsets":["0","8"]}}""", 8, "t", "must be an integer" },
        { "offsets-huge", """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}}""", 8, "t", "must be an integer" },
        { "offset-negative", """{"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}""", 8, "t", "negative" },
        { "unknown-dtype", """{"t":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}}""", 8, "t", "dtype 'F17' is unknown" },
        { "unsupported-dtype", """{"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}""", 2, "t", "dtype 'F8_E4M3' is not supported" },
        { "negative-dim", """{"t":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}}""", 8, "t", "negative dimension -1" },
        { "begin-after-end", """{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}""", 8, "t", "begin 8 is greater than end 0" },
        { "end-beyond-data", """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, "t", "beyond the data buffer of 4 bytes" },
        { "size-mismatch", """{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "t", "needs 12" },
        { "size-overflow", """{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}""", 8, "t", "overflows" },
        { "overlap", """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "t", "overlap tensor 'a'" },
        { "gap", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12, "t", "bytes [4, 8) before this tensor belong to no tensor" },
        { "trailing", Good, 12, null, "bytes [8, 12) at the end" },
        { "duplicate", """{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "t", "more than once" },
        { "meta-not-object", """{"__metadata__":["a"],"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, null, "__metadata__ must be an object" },
        { "meta-value-not-string", """{"__metadata__":{"n":1},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, null, "value of 'n' must be a string" },
    };

    [Theory]
    [MemberData(nameof(HeaderViolations))]
    public void Open_ThrowsForHeaderViolationNamingFileAndTensor(string name, string header, int dataBytes, string? tensorName, string fragment)
    {
        string path = RawSafeTensors.Write($"{name}.safetensors", header, new byte[dataBytes]);
        AssertFormatError(path, tensorName, fragment);
    }

    [Fact]
    public void Open_ThrowsForInvalidUtf8Header()
    {
        byte[] header = [.. Encoding.UTF8.GetBytes("{\"t"), 0xFF, .. Encoding.UTF8.GetBytes("\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}")];
        string path = RawSafeTensors.WriteBytes("utf8.safetensors", RawSafeTensors.Build(header, new byte[4]));
        AssertFormatError(path, null, "not valid UTF-8");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(7)]
    public void Open_ThrowsForFileShorterThan8Bytes(int length)
    {
        string path = RawSafeTensors.WriteBytes($"short{length}.safetensors", new byte[length]);
        AssertFormatError(path, null, $"the file has {length} bytes");
    }

    [Fact]
    public void Open_ThrowsForHeaderLengthOverTheLimit()
    {
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 100_000_001);
        AssertFormatError(RawSafeTensors.WriteBytes("huge.safetensors", bytes), null, "exceeds the limit of 100000000");
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        AssertFormatError(RawSafeTensors.WriteBytes("max.safetensors", bytes), null, "exceeds the limit");
    }

    [Fact]
    public void Open_ThrowsForHeaderLengthBeyondTheFile()
    {
        var bytes = new byte[20];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 13);
        AssertFormatError(RawSafeTensors.WriteBytes("beyond.safetensors", bytes), null, "runs past the end of the file");
    }

    [Fact]
    public void Open_ThrowsForEveryTruncationOfAValidFile()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        string full = Path.Combine(dir, "full.safetensors");
        SafeTensors.Save(full, new Dictionary<string, Tensor> { ["w"] = ones(3, 3), ["b"] = zeros(3, ScalarType.Int64) });
        byte[] bytes = File.ReadAllBytes(full);
        foreach (int length in new[] { 0, 4, 8, 9, 20, bytes.Length - 40, bytes.Length - 1 })
        {
            string cut = Path.Combine(dir, $"cut{length}.safetensors");
            File.WriteAllBytes(cut, bytes[..length]);
            var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Load(cut));
            Assert.Contains($"cut{length}.safetensors", e.Message);
        }
        Assert.Equal(2, SafeTensors.Load(full).Count);
    }

    [Fact]
    public void Load_AndReadMetadataAlsoValidate()
    {
        string path = RawSafeTensors.Write("both.safetensors", """{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", new byte[8]);
        AssertFormatError(path, "t", "negative", () => SafeTensors.Load(path));
        AssertFormatError(path, "t", "negative", () => SafeTensors.ReadMetadata(path));
    }

    static void AssertFormatError(string path, string? tensorName, string fragment, Action? act = null)
    {
        act ??= () => SafeTensors.Open(path).Dispose();
        var e = Assert.Throws<SafeTensorsFormatException>(act);
        Assert.Contains(Path.GetFileName(path), e.Message);
        Assert.Contains(fragment, e.Message);
        Assert.Equal(path, e.FilePath);
        Assert.Equal(tensorName, e.TensorName);
        if (tensorName is not null) Assert.Contains($"'{tensorName}'", e.Message);
    }
}
