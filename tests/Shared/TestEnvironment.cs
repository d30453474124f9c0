using System.Runtime.CompilerServices;
using Latent.Core.Engine;

namespace Latent.Tests;

/// <summary>Starts the engine once per test assembly and locates the conformance fixtures (linked into every test project).</summary>
public static class TestEnvironment
{
    /// <summary>Runs before any test: the engine loads (or the whole run fails with our diagnosis).</summary>
    [ModuleInitializer]
    public static void Init() => TorchEngine.EnsureInitialized();

    /// <summary>The copy of tests/fixtures next to the test assembly.</summary>
    public static string Fixtures => Path.Combine(AppContext.BaseDirectory, "fixtures");

    /// <summary>The diffusers conformance folder (tests/fixtures/parity).</summary>
    public static string Parity => Path.Combine(Fixtures, "parity");

    static readonly Lazy<string> Root = new(CreateRoot);

    /// <summary>A fresh, empty directory for one test, inside this test process's own folder under the system temp
    /// folder, which is deleted when the process exits (a suite run wrote about 1 GB there).</summary>
    public static string NewTempDir()
    {
        string dir = Path.Combine(Root.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static string CreateRoot()
    {
        string parent = Path.Combine(Path.GetTempPath(), "latent-tests");
        // A test host that was killed leaves its folder behind: remove those over a day old (a running one is younger).
        if (Directory.Exists(parent))
        {
            foreach (string stale in Directory.EnumerateDirectories(parent).Where(d => Directory.GetLastWriteTimeUtc(d) < DateTime.UtcNow.AddDays(-1)))
                TryDelete(stale);
        }
        string root = Path.Combine(parent, $"run-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
        return root;
    }

    static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }                      // in use or already gone: the next run's sweep takes it
        catch (UnauthorizedAccessException) { }
    }
}
