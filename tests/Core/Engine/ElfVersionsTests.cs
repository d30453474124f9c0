using System.Reflection;
using Latent.Core.Engine;

namespace Latent.Core.Tests.Engine;

public class ElfVersionsTests
{
    static string Metadata(string key) =>
        typeof(ElfVersionsTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    /// <summary>libLibTorchSharp.so as TorchSharp ships it, in the NuGet cache.</summary>
    static string ShippedLibrary => Path.Combine(Metadata("NuGetPackageRoot"), "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", TorchEngine.NativeLibraryName);

    [Fact]
    public void ReadNeeded_ShippedLibraryNeedsGlibcxx3432ForTheMarkerSymbolOnly()
    {
        List<ElfNeededVersion> needed = ElfVersions.ReadNeeded(File.ReadAllBytes(ShippedLibrary));
        ElfNeededVersion v = Assert.Single(needed, n => n.Name == ElfVersions.TorchSharpVersion);
        Assert.Equal("libstdc++.so.6", v.File);
        Assert.False(v.Weak);
        Assert.Equal(new[] { ElfVersions.MarkerSymbol }, v.Symbols);
        Assert.Contains(needed, n => n.Name == "GLIBC_2.2.5");
    }

    [Fact]
    public void MakeWeak_ChangesExactlyOneByteAndIsIdempotent()
    {
        byte[] original = File.ReadAllBytes(ShippedLibrary);
        byte[] patched = (byte[])original.Clone();

        Assert.Null(ElfVersions.MakeWeak(patched, ElfVersions.TorchSharpVersion, out bool changed));
        Assert.True(changed);
        Assert.Equal(1, original.Zip(patched).Count(p => p.First != p.Second));
        Assert.True(ElfVersions.ReadNeeded(patched).Single(n => n.Name == ElfVersions.TorchSharpVersion).Weak);

        byte[] again = (byte[])patched.Clone();
        Assert.Null(ElfVersions.MakeWeak(again, ElfVersions.TorchSharpVersion, out bool changedAgain));
        Assert.False(changedAgain);
        Assert.Equal(patched, again);
    }

    [Fact]
    public void MakeWeak_NothingToDoForAnAbsentVersion()
    {
        byte[] bytes = File.ReadAllBytes(ShippedLibrary);
        Assert.Null(ElfVersions.MakeWeak(bytes, "GLIBCXX_9.9.99", out bool changed));
        Assert.False(changed);
    }

    [Fact]
    public void MakeWeak_RefusesWhenARealSymbolIsBoundToTheVersion()
    {
        // GLIBCXX_3.4.19 is bound to real C++ runtime symbols: marking it weak would hide a real dependency.
        byte[] bytes = File.ReadAllBytes(ShippedLibrary);
        byte[] before = (byte[])bytes.Clone();
        string? refusal = ElfVersions.MakeWeak(bytes, "GLIBCXX_3.4.19", out bool changed);
        Assert.NotNull(refusal);
        Assert.Contains("really uses GLIBCXX_3.4.19", refusal);
        Assert.False(changed);
        Assert.Equal(before, bytes);
    }

    [Fact]
    public void ReadNeeded_ThrowsForAFileThatIsNotElf()
    {
        var e = Assert.Throws<InvalidDataException>(() => ElfVersions.ReadNeeded("not an elf file at all, but long enough to have a header....."u8.ToArray()));
        Assert.Contains("not an ELF file", e.Message);
    }

    [Fact]
    public void ReadNeeded_ThrowsForATruncatedLibrary()
    {
        byte[] bytes = File.ReadAllBytes(ShippedLibrary)[..4096];
        Assert.Throws<InvalidDataException>(() => ElfVersions.ReadNeeded(bytes));
    }

    [Fact]
    public void ReadDefined_SystemLibStdCxxDefinesItsGlibcxxVersions()
    {
        string? libstdcxx = ElfVersions.FindSystemLibStdCxx();
        Assert.NotNull(libstdcxx);
        HashSet<string> defined = ElfVersions.ReadDefined(File.ReadAllBytes(libstdcxx));
        Assert.Contains("GLIBCXX_3.4", defined);
        Assert.Contains("GLIBCXX_3.4.30", defined);
    }
}
