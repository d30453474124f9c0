using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Latent.Core.Engine;
using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.IO;

public class SafeTensorsRoundTripTests
{
    static Tensor Sample(ScalarType dtype, long[] shape, int seed)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)seed);
        return (dtype switch
        {
            ScalarType.Bool => randint(0, 2, shape, generator: g).to(ScalarType.Bool),
            ScalarType.Byte => randint(0, 256, shape, generator: g).to(ScalarType.Byte),
            ScalarType.Int8 or ScalarType.Int16 or ScalarType.Int32 => randint(-100, 100, shape, generator: g).to(dtype),
            ScalarType.Int64 => randint(-5_000_000_000L, 5_000_000_000L, shape, generator: g).to(dtype),
            _ => (randn(shape, generator: g) * Scalars.Of(1000)).to(dtype),
        }).MoveToOuterDisposeScope();
    }

    static byte[] RawBytes(Tensor t)
    {
        using var c = t.contiguous();
        return c.bytes.ToArray();
    }

    static void AssertIdentical(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(RawBytes(expected), RawBytes(actual));
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int16)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Byte)]
    [InlineData(ScalarType.Bool)]
    public void SaveLoad_RoundTripsEveryDtypeBitExactly(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["matrix"] = Sample(dtype, [3, 5, 2], 1),
            ["scalar"] = Sample(dtype, [], 2),
            ["empty"] = Sample(dtype, [0, 4], 3),
            ["transposed"] = Sample(dtype, [4, 6], 4).t(),
            ["sliced"] = Sample(dtype, [5, 7], 5)[.., 2..5],
        };
        Assert.False(tensors["transposed"].is_contiguous());
        string path = Path.Combine(TestEnvironment.NewTempDir(), "all.safetensors");

        SafeTensors.Save(path, tensors);
        var loaded = SafeTensors.Load(path);

        Assert.Equal(tensors.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, expected) in tensors) AssertIdentical(expected, loaded[name]);
    }

    [Fact]
    public void ReadTensor_AfterItsPagesWereReleased_ReadsTheSameBytesAgain()
    {
        // ReadTensor drops the mapped pages it copied from (MappedPages); reading again faults them in from the file.
        using var scope = NewDisposeScope();
        string path = Path.Combine(TestEnvironment.NewTempDir(), "w.safetensors");
        var a = randn(3, 5000);                  // spans pages, and shares its first and last page with its neighbours
        var b = arange(Scalars.Of(0), Scalars.Of(7), Scalars.One, ScalarType.Int64);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        using var file = SafeTensors.Open(path);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(file.ReadTensor("a").equal(a).all().item<bool>());
            Assert.True(file.ReadTensor("b").equal(b).all().item<bool>());
        }
    }

    [Fact]
    public void SaveLoad_MixedDtypesInOneFileKeepEachDtype()
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["b"] = Sample(ScalarType.Bool, [3], 1), ["h"] = Sample(ScalarType.Float16, [3], 2),
            ["f"] = Sample(ScalarType.Float32, [3], 3), ["l"] = Sample(ScalarType.Int64, [3], 4),
            ["u"] = Sample(ScalarType.Byte, [5], 5), ["bf"] = Sample(ScalarType.BFloat16, [1], 6),
        };
        string path = Path.Combine(TestEnvironment.NewTempDir(), "mixed.safetensors");
        SafeTensors.Save(path, tensors);
        var loaded = SafeTensors.Load(path);
        foreach (var (name, expected) in tensors) AssertIdentical(expected, loaded[name]);
    }

    [Fact]
    public void Save_LaysOutDataLikePythonAndAlignsEveryTensor()
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>
        {
            ["z_u8"] = zeros(3, ScalarType.Byte), ["a_bool"] = zeros(1, ScalarType.Bool),
            ["m_f16"] = zeros(3, ScalarType.Float16), ["c_f32"] = zeros(1, ScalarType.Float32),
            ["b_i64"] = zeros(1, ScalarType.Int64), ["a_f32"] = zeros(2, ScalarType.Float32),
        };
        string path = Path.Combine(TestEnvironment.NewTempDir(), "order.safetensors");
        SafeTensors.Save(path, tensors);

        using var file = SafeTensors.Open(path);
        Assert.Equal(["b_i64", "a_f32", "c_f32", "m_f16", "z_u8", "a_bool"], file.Keys);
        Assert.Equal(0, file.DataOffset % 8);
        foreach (var info in file.Tensors) Assert.Equal(0, info.Begin % SafeTensorsDtype.ItemSize(info.Dtype));
    }

    [Fact]
    public void Save_PadsTheHeaderWithSpacesToAMultipleOf8()
    {
        using var scope = NewDisposeScope();
        for (int nameLength = 1; nameLength <= 8; nameLength++)
        {
            string path = Path.Combine(TestEnvironment.NewTempDir(), "pad.safetensors");
            SafeTensors.Save(path, new Dictionary<string, Tensor> { [new string('k', nameLength)] = ones(2) });
            byte[] bytes = File.ReadAllBytes(path);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0UL, n % 8);
            string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
            Assert.EndsWith("}", header.TrimEnd(' '));
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(header).RootElement.ValueKind);
        }
    }

    [Fact]
    public void Metadata_RoundTripsAndIsEmptyWhenAbsent()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünï \"quoted\" {json}", ["empty"] = "" };
        SafeTensors.Save(Path.Combine(dir, "m.safetensors"), new Dictionary<string, Tensor> { ["x"] = ones(1) }, meta);
        SafeTensors.Save(Path.Combine(dir, "n.safetensors"), new Dictionary<string, Tensor> { ["x"] = ones(1) });

        Assert.Equal(meta, SafeTensors.ReadMetadata(Path.Combine(dir, "m.safetensors")));
        Assert.Empty(SafeTensors.ReadMetadata(Path.Combine(dir, "n.safetensors")));
    }

    [Fact]
    public void SaveLoad_EmptyDictionaryGivesAValidFile()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "none.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor>());
        Assert.Empty(SafeTensors.Load(path));
    }

    [Fact]
    public void SaveLoad_SlicedCopyPathEqualsTheSingleCopy()
    {
        // Tensors over 2 GB are copied in slices; a tiny slice size runs that path on a small tensor.
        using var scope = NewDisposeScope();
        var x = randn([7, 13], generator: new Generator(11)).to(ScalarType.BFloat16);
        string path = Path.Combine(TestEnvironment.NewTempDir(), "sliced.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = x.t() }, null, chunkBytes: 10);

        using var file = SafeTensors.Open(path);
        AssertIdentical(x.t(), file.ReadTensor("x", chunkBytes: 6));
        AssertIdentical(x.t(), file.ReadTensor("x", chunkBytes: 1));
        AssertIdentical(x.t(), file.ReadTensor("x"));
    }

    [Fact]
    public void Save_OverwritesAtomicallyAndLeavesNoTemporaryFile()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        string path = Path.Combine(dir, "w.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = ones(100) });
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["b"] = zeros(2) });

        Assert.Equal(["w.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName));
        Assert.Equal(["b"], SafeTensors.Load(path).Keys);
    }

    [Fact]
    public void Save_DoesNotChangeOrDisposeItsInputs()
    {
        using var scope = NewDisposeScope();
        var x = TestTensors.Arange(6, ScalarType.Float32).reshape(2, 3);
        var before = RawBytes(x);
        SafeTensors.Save(Path.Combine(TestEnvironment.NewTempDir(), "x.safetensors"), new Dictionary<string, Tensor> { ["x"] = x.t() });
        Assert.Equal(before, RawBytes(x));
    }

    [Fact]
    public void Save_ThrowsForReservedName()
    {
        using var x = ones(1);
        var e = Assert.Throws<ArgumentException>(() =>
            SafeTensors.Save(Path.Combine(TestEnvironment.NewTempDir(), "r.safetensors"), new Dictionary<string, Tensor> { ["__metadata__"] = x }));
        Assert.Contains("__metadata__", e.Message);
    }

    [Fact]
    public void Save_ThrowsForUnsupportedDtypeNamingTheTensor()
    {
        using var x = zeros(2, ScalarType.ComplexFloat32);
        var e = Assert.Throws<ArgumentException>(() =>
            SafeTensors.Save(Path.Combine(TestEnvironment.NewTempDir(), "c.safetensors"), new Dictionary<string, Tensor> { ["cplx"] = x }));
        Assert.Contains("cplx", e.Message);
    }

    [Fact]
    public void Open_GivesInfoAndReadsLazily()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(TestEnvironment.NewTempDir(), "info.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = ones(2, 3, ScalarType.Float16), ["n"] = tensor(5L) });

        using var file = SafeTensors.Open(path);
        var w = file.GetInfo("w");
        Assert.Equal(("F16", ScalarType.Float16, 6L, 12L), (w.DtypeName, w.Dtype, w.NumberOfElements, w.ByteLength));
        Assert.Equal([2L, 3L], w.Shape);
        Assert.Empty(file.GetInfo("n").Shape);
        Assert.True(file.Contains("n"));
        Assert.Equal(5L, file.ReadTensor("n").item<long>());
        var missing = Assert.Throws<KeyNotFoundException>(() => file.ReadTensor("nope"));
        Assert.Contains("info.safetensors", missing.Message);
    }

    [Fact]
    public void ReadTensor_ThrowsAfterDisposeButReadTensorsLiveOn()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(TestEnvironment.NewTempDir(), "d.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = full(4, Scalars.Of(2.5)) });
        var file = SafeTensors.Open(path);
        var x = file.ReadTensor("x");
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.ReadTensor("x"));
        Assert.Equal(10f, x.sum().item<float>());
    }
}
