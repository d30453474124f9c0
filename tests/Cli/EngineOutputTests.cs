using System.Diagnostics;
using Latent.Core.Imaging;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>
/// Runs <c>latent</c> as a separate process on commands that run convolutions (LibTorch and ONNX Runtime) and checks that
/// the engines print nothing: libtorch's NNPACK and c10 warnings and ONNX Runtime's log lines are written by native code
/// straight to the process's stderr, which only a child process shows.
/// </summary>
public class EngineOutputTests
{
    [Theory]
    [InlineData("txt2img", "libtorch")]
    [InlineData("txt2img", "onnxruntime")]
    [InlineData("img2img", "libtorch")]
    public void Command_OnACpuThatNnpackRejects_PrintsNoEngineLines(string command, string runtime)
    {
        // Before TorchEngine.DisableNnpack, txt2img here printed ten lines like
        // "[W1207 02:08:31.714 NNPACK.cpp:56] Could not initialize NNPACK! Reason: Unsupported hardware." (one per
        // batch-1 VAE convolution). Where no C compiler is found the test runs on the real CPU: on one that NNPACK
        // supports it then passes with or without the fix.
        Dictionary<string, string> environment = NnpackRejectingCpu.Value is { } shim ? new() { ["LD_PRELOAD"] = shim } : [];
        string dir = TestEnvironment.NewTempDir();
        string[] args = command == "txt2img" ? ["txt2img", "a cat"] : ["img2img", Image(dir), "a cat", "--strength", "0.5"];
        var r = LatentProcess.Run(environment, [.. args, "--model", TestEnvironment.Parity, "--runtime", runtime, "--steps", "2", "--seed", "1",
            "--out", Path.Combine(dir, "out.png")]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr);
        Assert.DoesNotContain("NNPACK", r.Stdout);
        Assert.DoesNotContain("onnxruntime", r.Stdout);
    }

    static string Image(string dir)
    {
        string path = Path.Combine(dir, "in.png");
        using var image = zeros(3, 32, 32);
        ImageIO.SavePng(image, path);
        return path;
    }

    /// <summary>
    /// A library for LD_PRELOAD whose <c>nnp_initialize</c> answers "unsupported hardware" (status 51), as NNPACK does on a
    /// CPU without AVX2 or with cache sizes a hypervisor hides; libtorch_cpu.so calls it through the PLT, so the preload
    /// replaces it. Built with the system's C compiler; null where there is none.
    /// </summary>
    static readonly Lazy<string?> NnpackRejectingCpu = new(() =>
    {
        string? cc = new[] { "/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang" }.FirstOrDefault(File.Exists);
        if (cc is null) return null;
        string dir = TestEnvironment.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "nnpack.c"), "int nnp_initialize(void) { return 51; }\n");
        using var process = Process.Start(new ProcessStartInfo(cc, ["-shared", "-fPIC", "-o", "nnpack.so", "nnpack.c"])
            { WorkingDirectory = dir, RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{cc} failed: {error}");
        return Path.Combine(dir, "nnpack.so");
    });
}
