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

    /// <summary>A fresh, empty directory under the system temp folder, for one test.</summary>
    public static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "latent-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
