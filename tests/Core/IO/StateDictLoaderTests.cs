using Latent.Core.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Tests.IO;

public class StateDictLoaderTests
{
    /// <summary>A module with a parameter-holding child and a persistent buffer: keys lin.weight, lin.bias, norm.weight, norm.bias, scale.</summary>
    sealed class Small : nn.Module<Tensor, Tensor>
    {
        readonly Linear lin;
        readonly LayerNorm norm;
        readonly Tensor scale;

        public Small() : base(nameof(Small))
        {
            lin = nn.Linear(3, 2);
            norm = nn.LayerNorm(2);
            scale = ones(2);
            register_buffer("scale", scale);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            return (norm.forward(lin.forward(x)) * scale).MoveToOuterDisposeScope();
        }
    }

    static Dictionary<string, Tensor> Snapshot(nn.Module module)
    {
        using var scope = NewDisposeScope();
        return module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().MoveToOuterDisposeScope());
    }

    static Dictionary<string, Tensor> RandomState(nn.Module module, int seed, ScalarType? dtype = null)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)seed);
        return module.state_dict().ToDictionary(kv => kv.Key, kv => randn(kv.Value.shape, generator: g).to(dtype ?? kv.Value.dtype).MoveToOuterDisposeScope());
    }

    static void AssertSame(Dictionary<string, Tensor> expected, nn.Module module)
    {
        using var scope = NewDisposeScope();
        var actual = module.state_dict();
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, v) in expected) Assert.True(v.to(actual[k].dtype).eq(actual[k]).all().item<bool>(), k);
    }

    [Fact]
    public void Load_CopiesEveryEntryExactly()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var source = RandomState(module, 1);

        var report = StateDictLoader.Load(module, source);

        AssertSame(source, module);
        Assert.Equal(5, report.Loaded.Count);
        Assert.Empty(report.Missing);
        Assert.Empty(report.Unexpected);
        Assert.True(module.parameters().All(p => p.requires_grad));
    }

    [Fact]
    public void Load_IntoSequentialGivesTheSameOutputsAsTheSource()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var a = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2));
        var b = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2));
        string path = Path.Combine(TestEnvironment.NewTempDir(), "seq.safetensors");
        SafeTensors.Save(path, a.state_dict());

        StateDictLoader.LoadFile(b, path);

        var x = randn([3, 4], generator: new Generator(6));
        Assert.True(a.forward(x).eq(b.forward(x)).all().item<bool>());
    }

    [Fact]
    public void Load_ConvertsDtype()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var half = RandomState(module, 2, ScalarType.Float16);
        string path = Path.Combine(TestEnvironment.NewTempDir(), "half.safetensors");
        SafeTensors.Save(path, half);

        StateDictLoader.LoadFile(module, path);

        Assert.All(module.state_dict().Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
        AssertSame(half, module);
    }

    [Fact]
    public void Load_ThrowsOnceNamingMissingUnexpectedAndMisShapedKeys()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var before = Snapshot(module);
        var source = RandomState(module, 3);
        source.Remove("norm.bias");
        source.Remove("scale");
        source["extra.weight"] = ones(1);
        source["lin.weight"] = ones(3, 2);

        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(module, source));

        Assert.Equal(["norm.bias", "scale"], e.Missing.Order());
        Assert.Equal(["extra.weight"], e.Unexpected);
        var m = Assert.Single(e.Mismatched);
        Assert.Equal("lin.weight", m.Key);
        Assert.Equal([2L, 3], m.ModuleShape);
        Assert.Equal([3L, 2], m.SourceShape);
        foreach (string part in new[] { "norm.bias", "scale", "extra.weight", "lin.weight", "[2, 3]", "[3, 2]", "2 missing, 1 unexpected, 1 mis-shaped" })
            Assert.Contains(part, e.Message);
        AssertSame(before, module); // nothing was copied, not even the matching keys
    }

    [Fact]
    public void LoadFile_NamesTheFileAndLeavesTheModuleUnchanged()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var before = Snapshot(module);
        var source = RandomState(module, 4);
        source.Remove("scale");
        string path = Path.Combine(TestEnvironment.NewTempDir(), "partial.safetensors");
        SafeTensors.Save(path, source);

        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.LoadFile(module, path));

        Assert.Equal(path, e.Source);
        Assert.Contains("partial.safetensors", e.Message);
        Assert.Equal(["scale"], e.Missing);
        AssertSame(before, module);
    }

    [Fact]
    public void Load_MapKeyRenamesAndDrops()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var state = RandomState(module, 5);
        var source = state.ToDictionary(kv => "model." + kv.Key, kv => kv.Value);
        source["text_model.embeddings.position_ids"] = TestTensors.Arange(77).unsqueeze(0);
        var options = new LoadOptions
        {
            MapKey = key => key == "text_model.embeddings.position_ids" ? null
                          : key.StartsWith("model.", StringComparison.Ordinal) ? key["model.".Length..] : key,
        };

        var report = StateDictLoader.Load(module, source, options);

        AssertSame(state, module);
        Assert.Equal(["text_model.embeddings.position_ids"], report.Dropped);
        Assert.Empty(report.Unexpected);
    }

    [Fact]
    public void Load_ThrowsWhenTwoKeysMapToOne()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var source = RandomState(module, 6);
        source["copy.scale"] = ones(2);
        var options = new LoadOptions { MapKey = key => key.Replace("copy.", "") };

        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(module, source, options));

        var conflict = Assert.Single(e.Conflicts);
        Assert.Contains("'scale'", conflict);
        Assert.Contains("copy.scale", e.Message);
    }

    [Fact]
    public void Load_NonStrictReportsMissingAndUnexpectedAndLoadsTheRest()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var before = Snapshot(module);
        var source = RandomState(module, 7);
        source.Remove("lin.bias");
        source["extra"] = ones(1);

        var report = StateDictLoader.Load(module, source, new LoadOptions { Strictness = StateDictStrictness.NonStrict });

        Assert.Equal(["lin.bias"], report.Missing);
        Assert.Equal(["extra"], report.Unexpected);
        Assert.Equal(4, report.Loaded.Count);
        var state = module.state_dict();
        Assert.True(state["lin.bias"].eq(before["lin.bias"]).all().item<bool>());
        Assert.True(state["lin.weight"].eq(source["lin.weight"]).all().item<bool>());
    }

    [Fact]
    public void Load_NonStrictStillThrowsForMisShapedKeys()
    {
        using var scope = NewDisposeScope();
        var module = new Small();
        var before = Snapshot(module);
        var source = RandomState(module, 8);
        source["scale"] = ones(3);

        var e = Assert.Throws<StateDictMismatchException>(() =>
            StateDictLoader.Load(module, source, new LoadOptions { Strictness = StateDictStrictness.NonStrict }));

        Assert.Equal("scale", Assert.Single(e.Mismatched).Key);
        AssertSame(before, module);
    }

    [Fact]
    public void LoadFile_ThrowsFormatErrorsForABrokenFile()
    {
        using var scope = NewDisposeScope();
        string path = RawSafeTensors.WriteBytes("broken.safetensors", [1, 2, 3]);
        var e = Assert.Throws<SafeTensorsFormatException>(() => StateDictLoader.LoadFile(new Small(), path));
        Assert.Contains("broken.safetensors", e.Message);
    }

    [Fact]
    public void LoadLazy_ChecksShapesBeforeReading_AndDisposesWhatItReads()
    {
        using var scope = NewDisposeScope();
        TestEnvironment.Init();
        using var module = new Small();
        var state = RandomState(module, seed: 3);
        var shapes = state.Select(kv => (kv.Key, kv.Value.shape)).ToList();
        var given = new List<Tensor>();
        StateDictLoader.LoadLazy(module, shapes, key => { var t = state[key].clone(); given.Add(t); return t; }, "lazy");
        AssertSame(state, module);
        Assert.Equal(state.Count, given.Count);
        Assert.All(given, t => Assert.True(t.IsInvalid));
    }

    [Fact]
    public void LoadLazy_MisShapedKey_ThrowsNamingIt_WithoutReading()
    {
        TestEnvironment.Init();
        using var module = new Small();
        var shapes = module.state_dict().Select(kv => (kv.Key, kv.Key == "lin.weight" ? new long[] { 5, 5 } : kv.Value.shape)).ToList();
        int reads = 0;
        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.LoadLazy(module, shapes, key => { reads++; return zeros(1); }, "lazy"));
        Assert.Contains("lin.weight", e.Message);
        Assert.Equal(0, reads);
    }
}
