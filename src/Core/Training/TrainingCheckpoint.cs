using System.Globalization;
using System.Text.Json;
using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>What a loaded checkpoint says besides the tensors it restored.</summary>
/// <param name="Path">The file read.</param>
/// <param name="Step">The number of completed optimizer steps when it was saved; resume at this step index.</param>
/// <param name="ConfigJson">The trainer's JSON blob saved with it (its config), verbatim.</param>
public sealed record CheckpointInfo(string Path, long Step, string ConfigJson);

/// <summary>
/// One training checkpoint in one safetensors file: tensors <c>model.*</c>, <c>ema.*</c>, <c>optim.*</c> and
/// <c>rng.*</c>, plus metadata with the step, the sampler state, the optimizer's and EMA's step counts and a JSON blob
/// for the trainer's config. Written atomically (temp file + rename), so a run killed mid-write keeps the previous file.
/// </summary>
/// <remarks>
/// Restoring a checkpoint into freshly built objects and running on gives the same weights, EMA and optimizer state,
/// bit for bit, as a run that never stopped (the test <c>Resume_IsBitExact</c> proves it). <see cref="Load"/>
/// validates everything against the file's header before it changes anything, so a checkpoint that does not fit leaves
/// the objects untouched. (A read error after that, e.g. a disk failure, can leave them partly restored: rebuild them.)
/// </remarks>
public static class TrainingCheckpoint
{
    /// <summary>The value of the <c>format</c> metadata entry.</summary>
    public const string Format = "latent-training-checkpoint/1";

    const string ModelPrefix = "model.", EmaPrefix = "ema.", OptimPrefix = "optim.", RngPrefix = "rng.";
    static readonly string[] Sections = [ModelPrefix, EmaPrefix, OptimPrefix, RngPrefix];

    /// <summary>Writes the checkpoint atomically.</summary>
    /// <param name="path">The file to write; its directory is created when missing.</param>
    /// <param name="state">The live objects.</param>
    /// <param name="step">Completed optimizer steps.</param>
    /// <param name="configJson">The trainer's config as JSON (saved verbatim; must parse).</param>
    /// <exception cref="ArgumentException"><paramref name="configJson"/> is not valid JSON.</exception>
    public static void Save(string path, TrainingState state, long step, string configJson = "{}")
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        try { using var _ = JsonDocument.Parse(configJson); }
        catch (JsonException e) { throw new ArgumentException($"configJson is not valid JSON: {e.Message}", nameof(configJson), e); }

        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, t) in state.Model.state_dict()) tensors[ModelPrefix + k] = t;
        foreach (var (k, t) in state.Optimizer.StateTensors()) tensors[OptimPrefix + k] = t;
        if (state.Ema is not null) foreach (var (k, t) in state.Ema.StateTensors()) tensors[EmaPrefix + k] = t;
        var rng = RngState.Capture(state.Generators);
        try
        {
            foreach (var (k, t) in rng) tensors[RngPrefix + k] = t;
            var metadata = new Dictionary<string, string>
            {
                ["format"] = Format,
                ["step"] = step.ToString(CultureInfo.InvariantCulture),
                ["sampler"] = JsonSerializer.Serialize(state.Sampler.State),
                ["optim.steps"] = JsonSerializer.Serialize(state.Optimizer.StepCounts()),
                ["config"] = configJson,
            };
            if (state.Ema is not null)
                metadata["ema.optimization_step"] = state.Ema.OptimizationStep.ToString(CultureInfo.InvariantCulture);
            SafeTensors.Save(path, tensors, metadata);
        }
        finally
        {
            foreach (var t in rng.Values) t.Dispose();
        }
    }

    /// <summary>Restores a checkpoint into the live objects (bit for bit) and returns its step and config.</summary>
    /// <remarks>Everything is checked against the file's header first (keys, shapes, dtypes, metadata), then the
    /// tensors are read one at a time and copied in place, so the extra memory is one tensor, not the checkpoint.</remarks>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is corrupt, not a training checkpoint, or does not match the
    /// objects; the message names every missing, unexpected or mis-shaped key.</exception>
    public static CheckpointInfo Load(string path, TrainingState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var file = Open(path);
        var parsed = Parse(path, file.Metadata, state.Ema is not null);
        var specs = file.Tensors.ToDictionary(t => t.Name, t => new TensorSpec(t.Shape, t.Dtype));
        var model = state.Model.state_dict();
        var optim = state.Optimizer.StateTensors();
        var ema = state.Ema?.StateTensors();

        // 1. Validate against the header: nothing changes unless everything fits.
        var problems = StateCheck.Compare("model", model, Section(specs, ModelPrefix));
        problems.AddRange(StateCheck.Compare("optimizer state", optim, Section(specs, OptimPrefix)));
        problems.AddRange(state.Optimizer.CheckStepCounts(parsed.OptimSteps));
        if (ema is not null) problems.AddRange(StateCheck.Compare("EMA", ema, Section(specs, EmaPrefix)));
        else if (Section(specs, EmaPrefix).Count > 0) problems.Add("the checkpoint holds an EMA but the run has none");
        problems.AddRange(RngState.Check(Section(specs, RngPrefix).Keys, state.Generators));
        var stray = specs.Keys.Where(k => !Sections.Any(p => k.StartsWith(p, StringComparison.Ordinal))).ToList();
        if (stray.Count > 0) problems.Add("unexpected keys " + StateCheck.List(stray));
        if (parsed.Sampler.DatasetSize != state.Sampler.DatasetSize || parsed.Sampler.Seed != state.Sampler.Seed)
            problems.Add($"sampler: saved for {parsed.Sampler.DatasetSize} examples and seed {parsed.Sampler.Seed}, " +
                         $"the run has {state.Sampler.DatasetSize} and seed {state.Sampler.Seed}");
        if (problems.Count > 0)
            throw new InvalidDataException($"checkpoint '{path}' does not match the model: " + string.Join("; ", problems));

        // 2. Copy in place, one tensor at a time.
        CopyInto(file, path, ModelPrefix, model);
        CopyInto(file, path, OptimPrefix, optim);
        state.Optimizer.SetStepCounts(parsed.OptimSteps);
        if (ema is not null)
        {
            CopyInto(file, path, EmaPrefix, ema);
            state.Ema!.SetOptimizationStep(parsed.EmaStep);
        }
        state.Sampler.Restore(parsed.Sampler);
        var rng = new Dictionary<string, Tensor>();
        try
        {
            foreach (string key in Section(specs, RngPrefix).Keys) rng[key] = Read(file, path, RngPrefix + key);
            RngState.Restore(rng, state.Generators);
        }
        finally
        {
            foreach (var t in rng.Values) t.Dispose();
        }
        return new CheckpointInfo(path, parsed.Step, parsed.Config);
    }

    /// <summary>Reads only the metadata: step and config, without loading tensors.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is corrupt or not a training checkpoint.</exception>
    public static CheckpointInfo ReadInfo(string path)
    {
        using var file = Open(path);
        var parsed = Parse(path, file.Metadata, expectEma: false);
        return new CheckpointInfo(path, parsed.Step, parsed.Config);
    }

    static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint '{path}' does not exist", path);
        try { return SafeTensors.Open(path); }
        catch (Exception e) when (e is SafeTensorsFormatException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"checkpoint '{path}' cannot be read (corrupt or not safetensors): {e.Message}", e);
        }
    }

    static Tensor Read(SafeTensorsFile file, string path, string key)
    {
        try { return file.ReadTensor(key); }
        catch (Exception e) when (e is SafeTensorsFormatException or IOException)
        {
            throw new InvalidDataException($"checkpoint '{path}': tensor '{key}' cannot be read: {e.Message}", e);
        }
    }

    static void CopyInto(SafeTensorsFile file, string path, string prefix, IReadOnlyDictionary<string, Tensor> live)
    {
        using var noGrad = torch.no_grad();
        foreach (var (key, tensor) in live)
        {
            using var saved = Read(file, path, prefix + key);
            tensor.copy_(saved);
        }
    }

    sealed record Parsed(long Step, SamplerState Sampler, Dictionary<string, long> OptimSteps, long EmaStep, string Config);

    static Parsed Parse(string path, IReadOnlyDictionary<string, string> m, bool expectEma)
    {
        string Get(string key) => m.TryGetValue(key, out var v)
            ? v : throw new InvalidDataException($"checkpoint '{path}' lacks metadata '{key}' (is it a training checkpoint?)");
        if (Get("format") != Format)
            throw new InvalidDataException($"checkpoint '{path}' has format '{m["format"]}', expected '{Format}'");
        try
        {
            long step = long.Parse(Get("step"), CultureInfo.InvariantCulture);
            var sampler = JsonSerializer.Deserialize<SamplerState>(Get("sampler")) ?? throw new JsonException("sampler is null");
            var steps = JsonSerializer.Deserialize<Dictionary<string, long>>(Get("optim.steps")) ?? throw new JsonException("optim.steps is null");
            long emaStep = expectEma ? long.Parse(Get("ema.optimization_step"), CultureInfo.InvariantCulture) : 0;
            return new Parsed(step, sampler, steps, emaStep, Get("config"));
        }
        catch (Exception e) when (e is FormatException or OverflowException or JsonException)
        {
            throw new InvalidDataException($"checkpoint '{path}' has invalid metadata: {e.Message}", e);
        }
    }

    static Dictionary<string, TensorSpec> Section(Dictionary<string, TensorSpec> all, string prefix) =>
        all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
           .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
}
