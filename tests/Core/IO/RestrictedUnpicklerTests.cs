using System.IO.Compression;
using System.Text;
using Latent.Core.IO;

namespace Latent.Core.Tests.IO;

/// <summary>
/// Forged pickles, written byte by byte into a torch.save-shaped zip: what torch.save never writes but an attacker can.
/// </summary>
public class RestrictedUnpicklerTests
{
    /// <summary>Writes <c>x/data.pkl</c> (and optional storages <c>x/data/KEY</c>) into a temp zip; returns its path.</summary>
    static string Zip(byte[] pickle, params (string Key, byte[] Bytes)[] storages)
    {
        string path = Path.Combine(Path.GetTempPath(), $"latent-forged-{Guid.NewGuid():N}.ckpt");
        using (var zip = new ZipArchive(File.Create(path), ZipArchiveMode.Create))
        {
            using (var s = zip.CreateEntry("x/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle);
            foreach (var (key, bytes) in storages)
                using (var s = zip.CreateEntry($"x/data/{key}", CompressionLevel.NoCompression).Open()) s.Write(bytes);
        }
        return path;
    }

    static byte[] Ops(params object[] parts)
    {
        var b = new List<byte> { 0x80, 0x02 };                     // PROTO 2
        foreach (var p in parts)
        {
            if (p is string s) { b.Add((byte)'X'); b.AddRange(BitConverter.GetBytes(Encoding.UTF8.GetByteCount(s))); b.AddRange(Encoding.UTF8.GetBytes(s)); }
            else if (p is byte op) b.Add(op);
            else if (p is char c) b.Add((byte)c);
            else if (p is byte[] raw) b.AddRange(raw);
        }
        b.Add((byte)'.');                                            // STOP
        return b.ToArray();
    }

    static PickleFormatException Refused(byte[] pickle, params (string, byte[])[] storages)
    {
        string path = Zip(pickle, storages);
        try { return Assert.ThrowsAny<PickleFormatException>(() => PickleCheckpoint.Load(path)); }
        finally { File.Delete(path); }
    }

    static byte[] Global(string module, string name) => Encoding.UTF8.GetBytes($"c{module}\n{name}\n");

    [Fact]
    public void AStorageLargerThanItsEntryIsRefusedBeforeAllocating()
    {
        // {"w": _rebuild_tensor_v2(persistent ("storage", FloatStorage, "0", "cpu", 10**15), 0, (1,), (1,), False, None)}
        byte[] numel = [0x8a, 8, .. BitConverter.GetBytes(1_000_000_000_000_000L)];   // LONG1, 8 bytes
        var pickle = Ops('}', "w", Global("torch._utils", "_rebuild_tensor_v2"), '(',
            '(', "storage", Global("torch", "FloatStorage"), "0", "cpu", numel, 't', 'Q',
            (byte)'K', (byte)0, (byte)'K', (byte)1, (byte)0x85, (byte)'K', (byte)1, (byte)0x85, (byte)0x89, 'N', 't', 'R', 's');
        var e = Refused(pickle, ("0", new byte[8]));
        Assert.Contains("storage '0' holds 8 bytes", e.Message);
    }

    [Fact]
    public void AViewPastTheEndOfItsStorageIsRefused()
    {
        // size (4,) over a storage of 2 floats
        var pickle = Ops('}', "w", Global("torch._utils", "_rebuild_tensor_v2"), '(',
            '(', "storage", Global("torch", "FloatStorage"), "0", "cpu", (byte)'K', (byte)2, 't', 'Q',
            (byte)'K', (byte)0, (byte)'K', (byte)4, (byte)0x85, (byte)'K', (byte)1, (byte)0x85, (byte)0x89, 'N', 't', 'R', 's');
        var e = Refused(pickle, ("0", new byte[8]));
        Assert.Contains("reaches element 3 of a storage of 2", e.Message);
    }

    [Fact]
    public void DeepNestingIsRefusedRatherThanOverflowingTheStack()
    {
        var parts = new List<object> { '}', "k" };
        for (int i = 0; i < 100; i++) parts.Add(']');               // 100 empty lists ...
        for (int i = 0; i < 99; i++) parts.Add('a');                // ... each appended into the one below it
        parts.Add('s');
        var e = Refused(Ops([.. parts]));
        Assert.Contains("nest deeper than 64", e.Message);
    }

    [Fact]
    public void ATextProtocolOpcodeIsRefusedByName()
    {
        var e = Refused(Ops('}', "k", Encoding.ASCII.GetBytes("I1\n"), 's'));   // INT, protocol 0
        Assert.Contains("opcode 0x49", e.Message);
    }

    [Fact]
    public void CallingAStorageTypeIsRefused()
    {
        var e = Refused(Ops('}', "k", Global("torch", "FloatStorage"), ')', 'R', 's'));
        Assert.Contains("torch.FloatStorage is a storage type and cannot be called", e.Message);
    }

    [Fact]
    public void AGlobalInsideTheStateDictIsRefusedEvenWhenNeverCalled()
    {
        var e = Assert.IsType<UnsafePickleException>(Refused(Ops('}', "k", Global("builtins", "getattr"), 's')));
        Assert.Equal("builtins.getattr", e.GlobalName);
    }

    [Fact]
    public void APlainDictOfNonTensorsLoadsEmptyAndReportsItsKeys()
    {
        string path = Zip(Ops('}', "step", (byte)'K', (byte)3, 's'));
        try
        {
            var contents = PickleCheckpoint.Read(path);
            Assert.Empty(contents.Tensors);
            Assert.Equal(new[] { "step" }, contents.Ignored);
        }
        finally { File.Delete(path); }
    }
}
