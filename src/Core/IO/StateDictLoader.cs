using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>
/// Copies a state dict (tensors by dotted key) into a module's parameters and buffers, strictly: every key must match
/// and every shape agree, or one <see cref="StateDictMismatchException"/> names all problems and nothing is copied.
/// </summary>
/// <remarks>
/// The module's entries are those of <c>module.state_dict()</c> (parameters and persistent buffers). Values are copied
/// in place under <c>no_grad</c>, converting the dtype where they differ (an F16 file into an F32 module), so the
/// module keeps its own dtype and device. The source tensors are neither kept nor disposed.
/// </remarks>
public static class StateDictLoader
{
    /// <summary>Loads <paramref name="source"/> into <paramref name="module"/>.</summary>
    /// <param name="module">The module whose entries receive the values.</param>
    /// <param name="source">Tensors by key; owned by the caller.</param>
    /// <param name="options">Key map and strictness; <see cref="LoadOptions.Default"/> when null.</param>
    /// <returns>What was loaded, and what was missing, unexpected or dropped (the latter two only in non-strict mode).</returns>
    /// <exception cref="StateDictMismatchException">
    /// A key is missing or unexpected (strict mode), a shape differs, or two keys map to one; the module is unchanged.
    /// </exception>
    public static LoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> source, LoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(source);
        var shapes = source.Select(kv => (kv.Key, kv.Value.shape)).ToList();
        return LoadCore(module, shapes, key => source[key], ownsRead: false, sourceName: null, options ?? LoadOptions.Default);
    }

    /// <summary>
    /// Loads the weights file <paramref name="safetensorsPath"/> into <paramref name="module"/>; errors name the file.
    /// A safetensors file is read one tensor at a time through a memory map, keys and shapes checked from the header
    /// before any data is read. A PyTorch pickle checkpoint (<see cref="IsPickleCheckpoint"/>: <c>.bin</c>,
    /// <c>.ckpt</c>, <c>.pt</c>, <c>.pth</c>) is read whole by <see cref="PickleCheckpoint"/>, which runs no code.
    /// </summary>
    /// <param name="module">The module whose entries receive the values.</param>
    /// <param name="safetensorsPath">The weights file.</param>
    /// <param name="options">Key map and strictness; <see cref="LoadOptions.Default"/> when null.</param>
    /// <returns>What was loaded, and what was missing, unexpected or dropped.</returns>
    /// <exception cref="StateDictMismatchException">As for <see cref="Load"/>; the message names the file.</exception>
    /// <exception cref="SafeTensorsFormatException">The file is not valid safetensors.</exception>
    /// <exception cref="PickleFormatException">The pickle checkpoint is invalid or names a refused global.</exception>
    public static LoadReport LoadFile(nn.Module module, string safetensorsPath, LoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (IsPickleCheckpoint(safetensorsPath))
        {
            var tensors = PickleCheckpoint.Load(safetensorsPath);
            try
            {
                var pickled = tensors.Select(kv => (kv.Key, kv.Value.shape)).ToList();
                return LoadCore(module, pickled, key => tensors[key], ownsRead: false, sourceName: safetensorsPath, options ?? LoadOptions.Default);
            }
            finally
            {
                foreach (var t in tensors.Values) t.Dispose();
            }
        }
        using var file = SafeTensors.Open(safetensorsPath);
        var shapes = file.Tensors.Select(t => (t.Name, t.Shape.ToArray())).ToList();
        return LoadCore(module, shapes, file.ReadTensor, ownsRead: true, sourceName: safetensorsPath, options ?? LoadOptions.Default);
    }

    /// <summary>Whether <paramref name="path"/> names a PyTorch pickle checkpoint by its extension (<c>.bin</c>, <c>.ckpt</c>, <c>.pt</c>, <c>.pth</c>).</summary>
    public static bool IsPickleCheckpoint(string path) =>
        Path.GetExtension(path).ToLowerInvariant() is ".bin" or ".ckpt" or ".pt" or ".pth";

    /// <summary>
    /// Loads tensors that are read one at a time on demand (a memory-mapped file under converted names, for example):
    /// keys and shapes are checked from <paramref name="source"/> before <paramref name="read"/> is called, and each
    /// tensor it returns is disposed after its copy.
    /// </summary>
    /// <param name="module">The module whose entries receive the values.</param>
    /// <param name="source">Every key with its shape, in the module's naming after <see cref="LoadOptions.MapKey"/>.</param>
    /// <param name="read">Reads one key's tensor (of the shape given); the loader disposes it.</param>
    /// <param name="sourceName">Named in the error message (a file path); null for none.</param>
    /// <param name="options">Key map and strictness; <see cref="LoadOptions.Default"/> when null.</param>
    /// <returns>What was loaded, and what was missing, unexpected or dropped.</returns>
    /// <exception cref="StateDictMismatchException">As for <see cref="Load"/>; the module is unchanged.</exception>
    public static LoadReport LoadLazy(nn.Module module, IReadOnlyList<(string Key, long[] Shape)> source, Func<string, Tensor> read,
        string? sourceName, LoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(read);
        return LoadCore(module, source.ToList(), read, ownsRead: true, sourceName, options ?? LoadOptions.Default);
    }

    static LoadReport LoadCore(nn.Module module, List<(string Key, long[] Shape)> source, Func<string, Tensor> read,
        bool ownsRead, string? sourceName, LoadOptions options)
    {
        var target = module.state_dict();
        var plan = new List<(string SourceKey, string TargetKey)>();
        var claimedBy = new Dictionary<string, string>(StringComparer.Ordinal); // module key -> source key
        var unexpected = new List<string>();
        var dropped = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        var conflicts = new List<string>();

        // 1. Match every source key to a module entry and compare shapes; nothing is copied yet.
        foreach (var (key, shape) in source)
        {
            string? mapped = options.MapKey is null ? key : options.MapKey(key);
            if (mapped is null) { dropped.Add(key); continue; }
            if (claimedBy.TryGetValue(mapped, out string? other))
            {
                conflicts.Add($"'{other}' and '{key}' both map to '{mapped}'");
                continue;
            }
            claimedBy[mapped] = key;
            if (!target.TryGetValue(mapped, out var entry)) { unexpected.Add(key); continue; }
            if (!entry.shape.AsSpan().SequenceEqual(shape)) { mismatched.Add(new ShapeMismatch(mapped, key, entry.shape, shape)); continue; }
            plan.Add((key, mapped));
        }
        var missing = target.Keys.Where(k => !claimedBy.ContainsKey(k)).ToList();

        // 2. Fail as a whole: mis-shaped keys and conflicts always, missing and unexpected keys when strict.
        bool strict = options.Strictness == StateDictStrictness.Strict;
        if (mismatched.Count > 0 || conflicts.Count > 0 || (strict && (missing.Count > 0 || unexpected.Count > 0)))
            throw new StateDictMismatchException(sourceName, missing, unexpected, mismatched, conflicts);

        // 3. Copy in place; copy_ converts the dtype. Tensors read from a file are freed one by one.
        using (no_grad())
        {
            foreach (var (sourceKey, targetKey) in plan)
            {
                var value = read(sourceKey);
                try { target[targetKey].copy_(value); }
                finally { if (ownsRead) value.Dispose(); }
            }
        }
        return new LoadReport(plan.Select(p => p.TargetKey).ToList(), missing, unexpected, dropped);
    }
}
