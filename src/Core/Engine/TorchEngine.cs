using System.Runtime.InteropServices;
using TorchSharp;

namespace Latent.Core.Engine;

/// <summary>
/// Starts the TorchSharp engine once per process: checks that the native library can load on this machine, then
/// applies the thread setting before the first tensor op (libtorch ignores a later inter-op setting), and turns off
/// libtorch's NNPACK probe, which fills stderr with warnings on some CPUs (<see cref="DisableNnpack"/>).
/// </summary>
/// <remarks>
/// Call <see cref="Initialize"/> at the top of an app (the <c>latent</c> CLI does, with <c>--threads</c>). Library code
/// calls <see cref="EnsureInitialized"/>, which initialises with the default when the app did not.
/// </remarks>
public static class TorchEngine
{
    static readonly object Gate = new();
    static EngineInfo? info;

    /// <summary>Name of the TorchSharp native library that carries the GLIBCXX problem.</summary>
    public const string NativeLibraryName = "libLibTorchSharp.so";

    /// <summary>The engine's state after initialisation, or null before.</summary>
    public static EngineInfo? Info => info;

    /// <summary>
    /// The most engine threads accepted: 4 per core. libtorch runs one intra-op and one inter-op pool of this size, and
    /// threads past the core count only contend (an outside test measured 122 s for 512 threads against 7 s for the
    /// default on 2 cores; 10,000 started 4,223 threads in 60 s and printed nothing for 300 s). 4x still lets one
    /// measure oversubscription, and scales with the machine where a fixed number would be too tight on a large
    /// server and far too loose on a laptop.
    /// </summary>
    public static int MaxThreads => 4 * Environment.ProcessorCount;

    /// <summary>
    /// Loads the engine and sets its threads. Idempotent for the same thread count; asking for a different count after
    /// initialisation throws, because libtorch's inter-op pool cannot be resized once it started.
    /// </summary>
    /// <param name="threads">Intra-op and inter-op threads; null or 0 means the number of cores.</param>
    /// <returns>Versions, threads and the native fix's state.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative or above <see cref="MaxThreads"/>.</exception>
    /// <exception cref="EngineLoadException">The native library cannot load; the message says what is missing and what to do.</exception>
    public static EngineInfo Initialize(int? threads = null)
    {
        if (threads < 0)
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be 0 (all cores) or positive");
        if (threads > MaxThreads)
            throw new ArgumentOutOfRangeException(nameof(threads), threads,
                $"threads must be at most {MaxThreads} (4 x {Environment.ProcessorCount} cores); got {threads}");
        int wanted = threads is null or 0 ? Environment.ProcessorCount : threads.Value;
        lock (Gate)
        {
            if (info is not null)
            {
                if (info.Threads != wanted)
                    throw new InvalidOperationException(
                        $"the engine already runs with {info.Threads} threads; cannot change to {wanted} after the first tensor op");
                return info;
            }
            NativeFixState fix = CheckNativeLibrary();
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception e) when (e is not EngineLoadException)
            {
                throw new EngineLoadException(
                    $"TorchSharp's native engine failed to start ({FirstLine(e.Message)}). Native fix: {fix.Describe()}. " +
                    "Rebuild with `dotnet build` (the Latent.Core build step patches the library) and run `latent doctor`.", e);
            }
            torch.set_num_threads(wanted);
            torch.set_num_interop_threads(wanted);
            DisableNnpack();
            info = new EngineInfo(
                typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "unknown",
                torch.__version__,
                RuntimeInformation.FrameworkDescription,
                torch.get_num_threads(),
                fix);
            return info;
        }
    }

    /// <summary>Initialises with the defaults unless the app already did; returns the engine's state.</summary>
    public static EngineInfo EnsureInitialized() => info ?? Initialize();

    /// <summary>
    /// Turns libtorch's NNPACK convolutions off for this process (idempotent, cheap). <see cref="Initialize"/> calls it;
    /// so does <c>StableDiffusionPipeline</c>, for apps that use the library without initialising the engine.
    /// </summary>
    /// <returns>True when NNPACK is off; false when this libtorch does not export the switch (the warnings may show then).</returns>
    /// <remarks>
    /// <para>Works around: before a float32 convolution that oneDNN does not take (batch 1 on a map of at most 20,480
    /// values, e.g. each conv of the VAE decoding one 64px image), libtorch 2.10 asks whether NNPACK is available; on a CPU
    /// that NNPACK rejects (no AVX2 or FMA3, or cache sizes that a hypervisor hides) it logs
    /// <c>[W... NNPACK.cpp:56] Could not initialize NNPACK! Reason: Unsupported hardware.</c> on stderr at every such
    /// call: twelve for one emoji image, hundreds for txt2img at cfg 1. libtorch checks this switch before that probe.</para>
    /// <para>No speed is lost: libtorch picks NNPACK only for batches of 16 or more, which oneDNN takes first (unless an
    /// app turns oneDNN off), and where the warning shows NNPACK cannot run at all. TorchSharp 0.107 has no
    /// <c>torch.backends.nnpack</c>, so this calls libtorch's exported <c>at::globalContext().setUserEnabledNNPACK(false)</c>.</para>
    /// <para>When it can go: when TorchSharp exposes the switch (call that instead), or when libtorch no longer logs the
    /// probe at every call: make this method return at once and run <c>EngineOutputTests</c> (tests/Cli), which simulates
    /// a CPU that NNPACK rejects; if stderr stays empty, delete it and its two callers.</para>
    /// </remarks>
    public static bool DisableNnpack()
    {
        lock (Gate)
        {
            if (!nnpackOff)
            {
                torch.InitializeDeviceType(DeviceType.CPU); // a no-op in every caller; makes sure libtorch_cpu.so is TorchSharp's
                nnpackOff = TrySetUserEnabledNnpack(false);
            }
            return nnpackOff;
        }
    }

    /// <summary>libtorch's NNPACK switch (<c>at::globalContext().userEnabledNNPACK()</c>), or null where it is not exported.</summary>
    internal static unsafe bool? NnpackEnabled() =>
        TryGetContextMember(UserEnabledNnpack, out nint context, out nint get) ? ((delegate* unmanaged<nint, byte>)get)(context) != 0 : null;

    static bool nnpackOff;
    const string LibTorchCpu = "libtorch_cpu.so";
    const string GlobalContext = "_ZN2at13globalContextEv";                     // at::Context& at::globalContext()
    const string SetUserEnabledNnpack = "_ZN2at7Context20setUserEnabledNNPACKEb"; // void at::Context::setUserEnabledNNPACK(bool)
    const string UserEnabledNnpack = "_ZNK2at7Context17userEnabledNNPACKEv";      // bool at::Context::userEnabledNNPACK() const

    static unsafe bool TrySetUserEnabledNnpack(bool enabled)
    {
        if (!TryGetContextMember(SetUserEnabledNnpack, out nint context, out nint set)) return false;
        ((delegate* unmanaged<nint, int, void>)set)(context, enabled ? 1 : 0); // a C++ bool: 0 or 1 in the low bits
        return true;
    }

    /// <summary>libtorch's global context and the address of one of its member functions.</summary>
    static unsafe bool TryGetContextMember(string member, out nint context, out nint method)
    {
        context = method = 0;
        // By soname: the dynamic linker hands back the copy that libLibTorchSharp.so loaded (it matches loaded objects first).
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad(LibTorchCpu, out nint library)) return false;
        try
        {
            if (!NativeLibrary.TryGetExport(library, GlobalContext, out nint globalContext)
                || !NativeLibrary.TryGetExport(library, member, out method))
                return false;
            context = ((delegate* unmanaged<nint>)globalContext)();
            return true;
        }
        finally
        {
            NativeLibrary.Free(library); // drops only our reference: TorchSharp's keeps the library and the addresses valid
        }
    }

    /// <summary>
    /// Finds the libLibTorchSharp.so that this process will load and reads whether it can load here, before TorchSharp
    /// tries: TorchSharp's own failure names neither the library nor GLIBCXX, and copies ~490 MB into bin/ first.
    /// </summary>
    /// <exception cref="EngineLoadException">The library needs (non-weak) versions this machine's libstdc++ lacks.</exception>
    public static NativeFixState CheckNativeLibrary() => CheckNativeLibrary(FindNativeLibrary(), ElfVersions.FindSystemLibStdCxx());

    /// <summary>Checks a given native library against a given libstdc++ (null: none found).</summary>
    /// <param name="path">A libLibTorchSharp.so, or null when none was found.</param>
    /// <param name="libstdcxx">The libstdc++.so.6 it would load with, or null to skip the check.</param>
    /// <exception cref="EngineLoadException">The library needs (non-weak) versions that <paramref name="libstdcxx"/> lacks.</exception>
    public static NativeFixState CheckNativeLibrary(string? path, string? libstdcxx)
    {
        if (path is null) return new NativeFixState(null, NativeFixStatus.LibraryNotFound, []);
        List<ElfNeededVersion> needed = ElfVersions.ReadNeeded(File.ReadAllBytes(path));
        ElfNeededVersion? marker = needed.Find(v => v.Name == ElfVersions.TorchSharpVersion);
        NativeFixStatus status = marker is null ? NativeFixStatus.NotNeeded
            : marker.Weak ? NativeFixStatus.Applied : NativeFixStatus.NotApplied;

        HashSet<string> defined = libstdcxx is null ? [] : ElfVersions.ReadDefined(File.ReadAllBytes(libstdcxx));
        string[] missing = libstdcxx is null ? [] : needed
            .Where(v => !v.Weak && v.File.StartsWith("libstdc++", StringComparison.Ordinal) && !defined.Contains(v.Name))
            .Select(v => v.Name).ToArray();
        var state = new NativeFixState(path, status, missing);
        if (missing.Length > 0)
            throw new EngineLoadException(
                $"{path} needs {string.Join(", ", missing)} from libstdc++, and {libstdcxx} does not have it. " +
                $"Latent's build step marks {ElfVersions.TorchSharpVersion} weak so that the library loads on Debian 12; it did not run for this output. " +
                "Build through MSBuild (`dotnet build`, `dotnet run`, `dotnet publish`) of a project that references Latent.Core, " +
                "and do not set LatentTorchSharpNativeFix=off; or install libstdc++ from GCC 13 or newer.");
        return state;
    }

    static string? FindNativeLibrary()
    {
        string baseDir = AppContext.BaseDirectory;
        string[] candidates =
        [
            Path.Combine(baseDir, NativeLibraryName),
            Path.Combine(baseDir, "runtimes", "linux-x64", "native", NativeLibraryName),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    static string FirstLine(string text)
    {
        int end = text.IndexOf('\n');
        return (end < 0 ? text : text[..end]).Trim();
    }
}

/// <summary>Versions and settings of the running engine.</summary>
/// <param name="TorchSharpVersion">The TorchSharp assembly's version, e.g. 0.107.0.</param>
/// <param name="LibTorchVersion">libtorch's version as TorchSharp reports it.</param>
/// <param name="DotNetVersion">The .NET runtime, e.g. ".NET 10.0.0".</param>
/// <param name="Threads">Intra-op threads in force.</param>
/// <param name="NativeFix">Whether the GLIBCXX fix was applied to the loaded native library.</param>
public sealed record EngineInfo(string TorchSharpVersion, string LibTorchVersion, string DotNetVersion, int Threads, NativeFixState NativeFix);

/// <summary>What the build did to libLibTorchSharp.so.</summary>
public enum NativeFixStatus
{
    /// <summary>The library's GLIBCXX_3.4.32 need is marked weak.</summary>
    Applied,
    /// <summary>The library needs no fix (no GLIBCXX_3.4.32 entry).</summary>
    NotNeeded,
    /// <summary>The library is as shipped: fine where libstdc++ is new (the build skips the fix there), fatal on Debian 12.</summary>
    NotApplied,
    /// <summary>No libLibTorchSharp.so next to the app; the OS loader will search for one.</summary>
    LibraryNotFound,
}

/// <summary>The native fix's state and the library it describes.</summary>
/// <param name="LibraryPath">The libLibTorchSharp.so this process loads, if found.</param>
/// <param name="Status">Whether the fix is applied.</param>
/// <param name="MissingVersions">Versions the library needs that this machine's libstdc++ lacks (empty when it loads).</param>
public sealed record NativeFixState(string? LibraryPath, NativeFixStatus Status, IReadOnlyList<string> MissingVersions)
{
    /// <summary>One line for logs and <c>latent doctor</c>.</summary>
    public string Describe() => Status switch
    {
        NativeFixStatus.Applied => $"applied ({ElfVersions.TorchSharpVersion} marked weak in {LibraryPath})",
        NativeFixStatus.NotNeeded => $"not needed ({LibraryPath} does not ask for {ElfVersions.TorchSharpVersion})",
        NativeFixStatus.NotApplied => $"not applied ({LibraryPath} as shipped; this machine's libstdc++ has the version)",
        _ => "library not found next to the app",
    };
}

/// <summary>The engine's native library cannot load; the message names what is missing and what to do.</summary>
public sealed class EngineLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EngineLoadException(string message, Exception? inner = null) : base(message, inner) { }
}
