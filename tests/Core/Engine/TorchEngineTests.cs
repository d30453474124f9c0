using System.Reflection;
using Latent.Core.Engine;

namespace Latent.Core.Tests.Engine;

public class TorchEngineTests
{
    [Fact]
    public void Initialize_ReportsVersionsThreadsAndTheLoadedLibrary()
    {
        EngineInfo info = TorchEngine.EnsureInitialized();
        Assert.Equal("0.107.0", info.TorchSharpVersion);
        Assert.StartsWith("2.10", info.LibTorchVersion);
        Assert.Equal(Environment.ProcessorCount, info.Threads);
        Assert.NotNull(info.NativeFix.LibraryPath);
        Assert.Empty(info.NativeFix.MissingVersions);
    }

    [Fact]
    public void Initialize_SameThreadCountIsIdempotent_DifferentOneThrows()
    {
        EngineInfo info = TorchEngine.EnsureInitialized();
        Assert.Same(info, TorchEngine.Initialize(info.Threads));
        var e = Assert.Throws<InvalidOperationException>(() => TorchEngine.Initialize(info.Threads + 1));
        Assert.Contains($"{info.Threads} threads", e.Message);
    }

    [Fact]
    public void Initialize_ThrowsAboveFourThreadsPerCore()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TorchEngine.Initialize(4 * Environment.ProcessorCount + 1));
        Assert.Contains($"at most {4 * Environment.ProcessorCount}", e.Message);
    }

    [Fact]
    public void Initialize_TurnsNnpackOff()
    {
        // libtorch's own switch, read back; null would mean this libtorch no longer exports it (then the NNPACK warnings
        // may be back on CPUs that NNPACK rejects: see TorchEngine.DisableNnpack).
        TorchEngine.EnsureInitialized();
        Assert.False(TorchEngine.NnpackEnabled());
    }

    [Fact]
    public void Initialize_ThrowsForNegativeThreads()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TorchEngine.Initialize(-2));
        Assert.Contains("-2", e.Message);
    }

    [Fact]
    public void BuildStep_PatchedTheLibraryNextToTheTests()
    {
        // The test output's libLibTorchSharp.so went through Latent.Core.targets: weak where this machine lacks the
        // version (Debian 12), untouched where libstdc++ already has it.
        string? libstdcxx = ElfVersions.FindSystemLibStdCxx();
        bool hostHasIt = libstdcxx is not null && ElfVersions.ReadDefined(File.ReadAllBytes(libstdcxx)).Contains(ElfVersions.TorchSharpVersion);
        NativeFixState state = TorchEngine.CheckNativeLibrary();
        Assert.Equal(hostHasIt ? NativeFixStatus.NotApplied : NativeFixStatus.Applied, state.Status);
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, TorchEngine.NativeLibraryName), state.LibraryPath);
    }

    [Fact]
    public void CheckNativeLibrary_UnpatchedLibraryOnAnOldLibStdCxx_SaysWhatIsMissingAndWhatToDo()
    {
        string? libstdcxx = ElfVersions.FindSystemLibStdCxx();
        Assert.NotNull(libstdcxx);
        if (ElfVersions.ReadDefined(File.ReadAllBytes(libstdcxx)).Contains(ElfVersions.TorchSharpVersion))
            return; // this machine's libstdc++ is new enough: the shipped library loads as it is.
        string root = typeof(TorchEngineTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NuGetPackageRoot").Value!;
        string shipped = Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", TorchEngine.NativeLibraryName);

        var e = Assert.Throws<EngineLoadException>(() => TorchEngine.CheckNativeLibrary(shipped, libstdcxx));
        Assert.Contains("GLIBCXX_3.4.32", e.Message);
        Assert.Contains(libstdcxx, e.Message);
        Assert.Contains("dotnet build", e.Message);
    }

    [Fact]
    public void CheckNativeLibrary_NoLibraryFound()
    {
        Assert.Equal(NativeFixStatus.LibraryNotFound, TorchEngine.CheckNativeLibrary(null, null).Status);
    }
}
