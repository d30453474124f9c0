using Latent.Core.Config;
using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.IO;

/// <summary>
/// <see cref="PickleCheckpoint"/> on files written by PyTorch 1.13's torch.save (tests/Core/IO/make_pickle_fixtures.py):
/// values, dtypes, views and shared storages, wrappers and nesting, and the pickles that try to run code.
/// </summary>
public class PickleCheckpointTests
{
    static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "fixtures", .. parts]);

    static string Pickle(string name) => Fixture("pickle", name);

    /// <summary>The expected tensors of fixture <paramref name="group"/> (the "group/" prefix removed).</summary>
    static Dictionary<string, Tensor> Expected(string group)
    {
        var all = SafeTensors.Load(Pickle("expected.safetensors"));
        var mine = all.Where(kv => kv.Key.StartsWith(group + "/", StringComparison.Ordinal))
                      .ToDictionary(kv => kv.Key[(group.Length + 1)..], kv => kv.Value);
        foreach (var (key, t) in all) if (!key.StartsWith(group + "/", StringComparison.Ordinal)) t.Dispose();
        return mine;
    }

    static void AssertEqualTensors(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (key, e) in expected)
        {
            var a = actual[key];
            Assert.True(e.dtype == a.dtype, $"{key}: dtype {a.dtype}, expected {e.dtype}");
            Assert.Equal(e.shape, a.shape);
            Assert.True(Same(e, a), $"{key}: values differ");
        }
    }

    static bool Same(Tensor a, Tensor b)
    {
        // Bit for bit, through contiguous copies (a view's bytes are its storage's, not its own).
        using var ca = a.contiguous();
        using var cb = b.contiguous();
        return ca.bytes.SequenceEqual(cb.bytes);
    }

    static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void Load_ReadsEveryDtypeAndAParameter()
    {
        using var scope = NewDisposeScope();
        var expected = Expected("dtypes");
        var actual = PickleCheckpoint.Load(Pickle("dtypes.pt"));
        AssertEqualTensors(expected, actual);
        Assert.Equal(ScalarType.BFloat16, actual["bf16"].dtype);
        Assert.Empty(actual["scalar"].shape);
        DisposeAll(expected);
        DisposeAll(actual);
    }

    [Fact]
    public void Load_KeepsStridesAndOffsetsOfViews()
    {
        using var scope = NewDisposeScope();
        var expected = Expected("views");
        var actual = PickleCheckpoint.Load(Pickle("views.pt"));
        AssertEqualTensors(expected, actual);
        Assert.False(actual["transposed"].is_contiguous());
        Assert.Equal(new long[] { 1, 6 }, actual["transposed"].stride());
        Assert.Equal(8, actual["slice"].storage_offset());   // base[1:4, 2:5] starts at row 1, column 2 of 6 columns
        DisposeAll(expected);
        DisposeAll(actual);
    }

    [Fact]
    public void Load_ViewsOfOneStorageStillShareIt()
    {
        using var scope = NewDisposeScope();
        var actual = PickleCheckpoint.Load(Pickle("views.pt"));
        using (no_grad())
        {
            using var one = tensor(-1f);
            actual["base"][0, 1].copy_(one);
        }
        Assert.Equal(-1f, actual["transposed"][1, 0].item<float>());   // one storage, as in the file
        DisposeAll(actual);
    }

    [Fact]
    public void Read_UnwrapsStateDictAndReportsTheRest()
    {
        var expected = Expected("wrapped");
        var contents = PickleCheckpoint.Read(Pickle("wrapped.ckpt"));
        AssertEqualTensors(expected, contents.Tensors);
        Assert.Equal(new[] { "global_step", "epoch", "outside" }, contents.Ignored);
        DisposeAll(expected);
        DisposeAll(contents.Tensors);
    }

    [Fact]
    public void Read_FlattensNestedContainersToDottedKeys()
    {
        var expected = Expected("nested");
        var contents = PickleCheckpoint.Read(Pickle("nested.pt"));
        AssertEqualTensors(expected, contents.Tensors);
        Assert.Equal(new[] { "decoder.name", "count", "ratio", "nothing" }, contents.Ignored);
        DisposeAll(expected);
        DisposeAll(contents.Tensors);
    }

    [Fact]
    public void Load_ReadsAModuleStateDictWithItsMetadata()
    {
        var expected = Expected("linear");
        var actual = PickleCheckpoint.Load(Pickle("linear.bin"));
        AssertEqualTensors(expected, actual);
        DisposeAll(expected);
        DisposeAll(actual);
    }

    [Theory]
    [InlineData("evil-system.ckpt", "posix.system", "/tmp/latent-pwned-system")]
    [InlineData("evil-eval.ckpt", "builtins.eval", "/tmp/latent-pwned-eval")]       // protocol 4: STACK_GLOBAL
    [InlineData("evil-popen.bin", "subprocess.Popen", "/tmp/latent-pwned-popen")]
    public void Load_RefusesAGlobalOffTheAllowListByNameAndRunsNothing(string file, string global, string marker)
    {
        File.Delete(marker);
        var e = Assert.Throws<UnsafePickleException>(() => PickleCheckpoint.Load(Pickle(file)));
        Assert.Equal(global, e.GlobalName);
        Assert.Contains($"'{global}'", e.Message);
        Assert.Contains(file, e.Message);
        Assert.False(File.Exists(marker), $"{marker} was created: the pickle ran code");
    }

    [Fact]
    public void LoadFile_RefusesAMaliciousBinAsWell()
    {
        using var lin = nn.Linear(3, 2);
        var e = Assert.Throws<UnsafePickleException>(() => StateDictLoader.LoadFile(lin, Pickle("evil-popen.bin")));
        Assert.Equal("subprocess.Popen", e.GlobalName);
    }

    [Fact]
    public void Load_RefusesTheLegacyFormatClearly()
    {
        var e = Assert.Throws<PickleFormatException>(() => PickleCheckpoint.Load(Pickle("legacy.pt")));
        Assert.Contains("legacy", e.Message);
        Assert.Contains("legacy.pt", e.Message);
    }

    [Fact]
    public void Load_NamesTheFileOfATruncatedZip()
    {
        string path = Path.Combine(Path.GetTempPath(), $"latent-truncated-{Guid.NewGuid():N}.ckpt");
        byte[] whole = File.ReadAllBytes(Pickle("dtypes.pt"));
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        try
        {
            var e = Assert.Throws<PickleFormatException>(() => PickleCheckpoint.Load(path));
            Assert.Equal(path, e.FilePath);
            Assert.Contains(path, e.Message);
            Assert.Contains("truncated or corrupt", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Load_NamesTheFileOfACorruptStorage()
    {
        // The central directory is intact but a storage's bytes are garbled: the zip's CRC check fails while reading it.
        string path = Path.Combine(Path.GetTempPath(), $"latent-corrupt-{Guid.NewGuid():N}.pt");
        byte[] bytes = File.ReadAllBytes(Pickle("views.pt"));
        int header = IndexOf(bytes, "views/data/0"u8.ToArray()) - 30;   // the entry's local header: 30 bytes, name, extra, data
        Assert.Equal(0x04034b50, BitConverter.ToInt32(bytes, header));
        int data = header + 30 + BitConverter.ToUInt16(bytes, header + 26) + BitConverter.ToUInt16(bytes, header + 28);
        for (int i = 0; i < 16; i++) bytes[data + i] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        try
        {
            var e = Assert.Throws<PickleFormatException>(() => PickleCheckpoint.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }

    static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    [Fact]
    public void Load_RefusesAFileThatIsNotAZip()
    {
        var e = Assert.Throws<PickleFormatException>(() => PickleCheckpoint.Load(Pickle("expected.safetensors")));
        Assert.Contains("not a PyTorch zip checkpoint", e.Message);
    }

    [Fact]
    public void Load_ThrowsFileNotFoundForAMissingFile() =>
        Assert.Throws<FileNotFoundException>(() => PickleCheckpoint.Load(Pickle("no-such.ckpt")));

    [Fact]
    public void Load_TinySd15CkptEqualsItsSafetensorsTwin()
    {
        using var scope = NewDisposeScope();
        var ckpt = PickleCheckpoint.Read(Fixture("realformats", "tiny-sd15.ckpt"));
        var twin = SafeTensors.Load(Fixture("realformats", "tiny-sd15.safetensors"));
        Assert.Empty(ckpt.Ignored);
        AssertEqualTensors(twin, ckpt.Tensors);
        Assert.Contains("model.diffusion_model.input_blocks.1.1.proj_in.weight", ckpt.Tensors.Keys);
    }

    [Fact]
    public void PretrainedFolder_LoadsTheBinWhenThereIsNoSafetensors()
    {
        using var scope = NewDisposeScope();
        var expected = Expected("linear");
        using var model = PretrainedFolder.Load<DiffusersConfig, TorchSharp.Modules.Linear>(Pickle("bin-folder"),
            "diffusion_pytorch_model.safetensors", "TinyLinear", (_, _) => { }, _ => nn.Linear(3, 2));
        Assert.True(Same(expected["weight"], model.weight!));
        Assert.True(Same(expected["bias"], model.bias!));
        DisposeAll(expected);
    }

    [Theory]
    [InlineData("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")]
    [InlineData("model.safetensors", "pytorch_model.bin")]
    public void PickleTwin_IsTheNameDiffusersAndTransformersUse(string safetensors, string bin) =>
        Assert.Equal(bin, PretrainedFolder.PickleTwin(safetensors));
}
