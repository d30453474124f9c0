using System.Globalization;
using Latent.Core.Imaging;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>
/// The fuzz suite of issue 21: seeded mutations of safetensors headers, configs, tokenizer files, PNGs and command lines,
/// each run through <c>latent</c> in-process (<see cref="Program.Main"/>) on a copy of the parity pipeline. Every case must
/// end in exit 0 (the damage was harmless) or exit 2 with one line that starts "error:" and names the damaged file (or the
/// option), writing nothing; exit 3 is allowed only with one line; exit 70 ("internal error"), an exception out of Main,
/// or a case slower than <see cref="CaseTimeout"/> fails the test.
/// </summary>
/// <remarks>
/// <para>Cases per family: <c>LATENT_FUZZ_CASES</c> (default 30, about 35 s for the five families on a loaded 2-core
/// machine); seed: <c>LATENT_FUZZ_SEED</c> (default 21). <c>LATENT_FUZZ_REPORT=FILE</c> appends each family's counts to
/// FILE (docs/RELIABILITY.md has the command and the counts of a larger run).</para>
/// </remarks>
[Collection(InProcessCli.Collection)]
public class FuzzTests(ITestOutputHelper output)
{
    static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(60);

    static int Cases => int.TryParse(Environment.GetEnvironmentVariable("LATENT_FUZZ_CASES"), out int n) && n > 0 ? n : 30;

    static int Seed => int.TryParse(Environment.GetEnvironmentVariable("LATENT_FUZZ_SEED"), out int s) ? s : 21;

    static readonly string[] WeightFiles = ["unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"];
    static readonly string[] ConfigFiles = ["unet/config.json", "vae/config.json", "text_encoder/config.json", "scheduler/scheduler_config.json", "model_index.json"];
    static readonly string[] TokenizerJsonFiles = ["tokenizer/vocab.json", "tokenizer/tokenizer_config.json", "tokenizer/special_tokens_map.json"];

    [Fact]
    public void SafetensorsHeaders() => Family("safetensors headers", 1, (rng, model) =>
    {
        string file = WeightFiles[rng.Next(WeightFiles.Length)];
        string path = Path.Combine(model, file);
        var (bytes, what) = FuzzInputs.SafeTensors(File.ReadAllBytes(path), rng);
        File.WriteAllBytes(path, bytes);
        return (Txt2Img(model), path, $"{file}: {what}");
    });

    [Fact]
    public void Configs() => Family("configs", 2, (rng, model) =>
    {
        string file = ConfigFiles[rng.Next(ConfigFiles.Length)];
        string path = Path.Combine(model, file);
        var (text, what) = FuzzInputs.Json(File.ReadAllText(path), rng);
        WriteText(path, text);
        return (Txt2Img(model), path, $"{file}: {what}");
    });

    [Fact]
    public void TokenizerFiles() => Family("tokenizer files", 3, (rng, model) =>
    {
        bool merges = rng.Next(2) == 0;
        string file = merges ? "tokenizer/merges.txt" : TokenizerJsonFiles[rng.Next(TokenizerJsonFiles.Length)];
        string path = Path.Combine(model, file);
        var (text, what) = merges ? FuzzInputs.Merges(File.ReadAllText(path), rng) : FuzzInputs.Json(File.ReadAllText(path), rng);
        WriteText(path, text);
        return (Txt2Img(model), path, $"{file}: {what}");
    });

    [Fact]
    public void Pngs() => Family("PNGs (img2img)", 4, (rng, model) =>
    {
        string path = Path.Combine(Path.GetDirectoryName(model)!, "input.png");
        var (bytes, what) = FuzzInputs.Png(BasePng.Value, rng);
        File.WriteAllBytes(path, bytes);
        return (["img2img", path, "a cat", "--model", model, "--steps", "2", "--strength", "0.5", "--seed", "1", "--size", "32"], path, what);
    });

    [Fact]
    public void CommandLines() => Family("command lines", 5, (rng, model) =>
    {
        var args = new List<string>(Txt2Img(model));
        var whats = new List<string>();
        for (int i = 0, n = 1 + rng.Next(2); i < n; i++)
        {
            var (option, what) = FuzzInputs.Option(rng, Path.GetDirectoryName(model)!);
            int at = args.IndexOf(option[0]);
            if (at >= 0) args.RemoveRange(at, 2); // the hostile value replaces the safe one
            args.AddRange(option);
            whats.Add(what);
        }
        return (args.ToArray(), null, string.Join(", ", whats));
    });

    static readonly Lazy<byte[]> BasePng = new(() =>
    {
        using var scope = NewDisposeScope();
        using var image = rand(3, 32, 32, generator: new TorchSharp.torch.Generator(1)).mul(Latent.Core.Engine.Scalars.Of(2)).sub(Latent.Core.Engine.Scalars.One);
        return ImageIO.EncodePng(image);
    });

    // The safe command every model mutation runs: 1 step at the parity model's 32x32, into OUT.
    static string[] Txt2Img(string model) =>
        ["txt2img", "a cat", "--model", model, "--steps", "1", "--seed", "1", "--size", "32", "--out", Path.Combine(Path.GetDirectoryName(model)!, "out")];

    /// <summary>Runs <see cref="Cases"/> cases of one family and checks each outcome; counts go to the test log and the report.</summary>
    void Family(string name, int salt, Func<Random, string, (string[] Args, string? File, string What)> makeCase)
    {
        TestEnvironment.Init();
        var rng = new Random(Seed * 31 + salt);
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < Cases; i++)
        {
            string dir = TestEnvironment.NewTempDir(), model = Path.Combine(dir, "model");
            CopyParity(model);
            var (args, file, what) = makeCase(rng, model);
            string[] args2 = args.Contains("--out") ? args : [.. args, "--out", Path.Combine(dir, "out")];
            var before = Listing(dir);
            var run = Task.Run(() => InProcessCli.Run(args2));
            string outcome;
            if (!run.Wait(CaseTimeout)) outcome = "timeout";
            else if (run.IsFaulted) outcome = $"exception {run.Exception!.InnerException!.GetType().Name}";
            else outcome = Check(run.Result, file, dir, before);
            string key = outcome.StartsWith("ok", StringComparison.Ordinal) ? outcome : "FAIL";
            counts[key] = counts.GetValueOrDefault(key) + 1;
            if (key == "FAIL")
            {
                string err = run.IsCompletedSuccessfully ? run.Result.Err.Trim() : "";
                failures.Add($"case {i} ({what}): {outcome}; stderr: {err}");
            }
            if (Environment.GetEnvironmentVariable("LATENT_FUZZ_VERBOSE") == "1")
                output.WriteLine($"case {i} ({what}): {outcome}: {(run.IsCompletedSuccessfully ? run.Result.Err.Trim() : "")}");
            if (run.IsCompleted) TryDelete(dir);
        }
        string summary = $"{name}: {Cases} cases, seed {Seed}, {clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s: " +
                         string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"));
        output.WriteLine(summary);
        foreach (string f in failures) output.WriteLine(f);
        if (Environment.GetEnvironmentVariable("LATENT_FUZZ_REPORT") is { Length: > 0 } report)
            File.AppendAllText(report, summary + "\n" + string.Concat(failures.Select(f => "  " + f + "\n")));
        Assert.True(failures.Count == 0, summary + "\n" + string.Join("\n", failures));
    }

    // "ok ..." for an acceptable outcome (exit 0; exit 2 with one line naming the file and nothing written; exit 3 with one line), else why not.
    static string Check(InProcessCli.Result r, string? file, string dir, HashSet<string> before)
    {
        string[] lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        switch (r.Code)
        {
            case 0:
                return "ok: exit 0 (harmless)";
            case 2 or 3:
                if (lines.Length != 1) return $"exit {r.Code} with {lines.Length} lines on stderr";
                if (!lines[0].StartsWith("error: ", StringComparison.Ordinal)) return $"exit {r.Code} without 'error: '";
                if (r.Code == 2 && file is not null && !Names(lines[0], file)) return "exit 2 not naming the file";
                var added = Listing(dir).Except(before).Where(p => !p.EndsWith("out", StringComparison.Ordinal)).ToList();
                if (added.Count > 0) return $"exit {r.Code} but wrote {string.Join(", ", added)}";
                return r.Code == 2 ? "ok: exit 2 (refused, one line)" : "ok: exit 3 (engine, one line)";
            default:
                return $"exit {r.Code}";
        }
    }

    // The message names the file: its path, or its folder (a component) together with the file's name or the pipeline folder.
    static bool Names(string line, string file)
    {
        string folder = Path.GetDirectoryName(file)!;
        return line.Contains(file, StringComparison.Ordinal)
            || (line.Contains(folder, StringComparison.Ordinal) && line.Contains(Path.GetFileName(file), StringComparison.Ordinal))
            || line.Contains($"'{Path.GetDirectoryName(folder)}', {Path.GetFileName(folder)}:", StringComparison.Ordinal);
    }

    // UTF-8 that writes what it cannot encode (a lone surrogate) as U+FFFD instead of throwing, as a careless editor would.
    static void WriteText(string path, string text) => File.WriteAllBytes(path, new System.Text.UTF8Encoding(false, false).GetBytes(text));

    static HashSet<string> Listing(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).ToHashSet(StringComparer.Ordinal);

    static void CopyParity(string model)
    {
        foreach (string file in Directory.GetFiles(TestEnvironment.Parity, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(TestEnvironment.Parity, file);
            if (relative.StartsWith("vectors", StringComparison.Ordinal) || relative.EndsWith(".md", StringComparison.Ordinal)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(model, relative))!);
            File.Copy(file, Path.Combine(model, relative));
        }
    }

    static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
