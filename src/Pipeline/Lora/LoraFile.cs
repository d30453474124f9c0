using System.Globalization;
using Latent.Core.IO;
using static TorchSharp.torch;

namespace Latent.Pipeline.Lora;

/// <summary>Which of the pipeline's modules a LoRA layer changes.</summary>
public enum LoraTarget
{
    /// <summary>The U-Net (kohya <c>lora_unet_*</c>, PEFT <c>unet.*</c>).</summary>
    UNet,

    /// <summary>The CLIP text encoder (kohya <c>lora_te_*</c>, PEFT <c>text_encoder.*</c>).</summary>
    TextEncoder,
}

/// <summary>A LoRA file and its multiplier, as <c>--lora FILE[:WEIGHT]</c> names it.</summary>
/// <param name="Path">The <c>.safetensors</c> file.</param>
/// <param name="Weight">The multiplier (1 by default; A1111's <c>&lt;lora:name:WEIGHT&gt;</c>).</param>
public sealed record LoraSpec(string Path, double Weight = 1.0)
{
    /// <summary>The name A1111 writes: the file name without its extension.</summary>
    public string Name => System.IO.Path.GetFileNameWithoutExtension(Path);

    /// <summary>Parses <c>FILE</c> or <c>FILE:WEIGHT</c> (the weight after the last colon, when it is a number; so <c>C:\x.safetensors</c> works).</summary>
    /// <exception cref="ArgumentException">The text is empty or the weight is not finite.</exception>
    public static LoraSpec Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        int colon = text.LastIndexOf(':');
        if (colon > 0 && double.TryParse(text.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double w))
        {
            if (!double.IsFinite(w)) throw new ArgumentException($"--lora weight must be a finite number; got '{text[(colon + 1)..]}'", nameof(text));
            return new LoraSpec(text[..colon], w);
        }
        return new LoraSpec(text);
    }
}

/// <summary>One low-rank update: W += multiplier * Alpha / rank * (Up @ Down), reshaped to W.</summary>
/// <param name="Target">The module.</param>
/// <param name="WeightKey">The changed weight's key in that module, e.g. <c>down_blocks.0.attentions.0.proj_in.weight</c>.</param>
/// <param name="Down">[r, in] for a linear layer, [r, in, kh, kw] for a conv.</param>
/// <param name="Up">[out, r] or [out, r, 1, 1].</param>
/// <param name="Alpha">kohya's <c>alpha</c>; the rank when the file has none (scale 1).</param>
public sealed record LoraLayer(LoraTarget Target, string WeightKey, Tensor Down, Tensor Up, double Alpha);

/// <summary>
/// Reads a LoRA <c>.safetensors</c> file in kohya's format (<c>lora_unet_*</c> / <c>lora_te_*</c> with
/// <c>.lora_down.weight</c>, <c>.lora_up.weight</c>, <c>.alpha</c>) or diffusers/PEFT's (<c>unet.*</c> /
/// <c>text_encoder.*</c> with <c>.lora_A.weight</c>, <c>.lora_B.weight</c>), matching each layer to a weight of ours.
/// </summary>
/// <remarks>
/// kohya's names are our module paths with '.' replaced by '_' (<c>lora_unet_down_blocks_0_attentions_0_proj_in</c>
/// is <c>down_blocks.0.attentions.0.proj_in</c>), so they are matched by building that name for every weight of our
/// modules, not by guessing where the dots were. Strict: a key of neither format, a layer that names no weight of ours,
/// or a half pair (down without up) is an error that lists them all.
/// </remarks>
public static class LoraFile
{
    /// <summary>Reads <paramref name="path"/> against our modules' weight keys; the caller disposes the tensors.</summary>
    /// <param name="path">The file.</param>
    /// <param name="weightKeys">Per module, the keys of its weights (<c>state_dict()</c> keys ending in <c>.weight</c>).</param>
    /// <exception cref="InvalidDataException">Unknown, unmatched or incomplete keys; the message lists them.</exception>
    public static List<LoraLayer> Read(string path, IReadOnlyDictionary<LoraTarget, IReadOnlyCollection<string>> weightKeys)
    {
        // kohya name -> (module, weight key), for every weight of ours.
        var byKohya = new Dictionary<string, (LoraTarget, string)>(StringComparer.Ordinal);
        foreach (var (target, keys) in weightKeys)
            foreach (string key in keys.Where(k => k.EndsWith(".weight", StringComparison.Ordinal)))
                byKohya[(target == LoraTarget.UNet ? "lora_unet_" : "lora_te_") + key[..^".weight".Length].Replace('.', '_')] = (target, key);

        var tensors = SafeTensors.Load(path);
        var parts = new Dictionary<(LoraTarget, string), (Tensor? Down, Tensor? Up, Tensor? Alpha)>();
        var unknown = new List<string>();
        var unmatched = new List<string>();
        try
        {
            foreach (var (key, tensor) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (!Split(key, out string layer, out Part part)) { unknown.Add(key); continue; }
                (LoraTarget, string)? target = layer.StartsWith("lora_", StringComparison.Ordinal)
                    ? (byKohya.TryGetValue(layer, out var t) ? t : null)
                    : Peft(layer, weightKeys);
                if (target is not { } found) { unmatched.Add(key); continue; }
                var p = parts.GetValueOrDefault(found);
                parts[found] = part switch
                {
                    Part.Down => p with { Down = tensor },
                    Part.Up => p with { Up = tensor },
                    _ => p with { Alpha = tensor },
                };
            }
            var incomplete = parts.Where(kv => kv.Value.Down is null || kv.Value.Up is null).Select(kv => kv.Key.Item2).ToList();
            if (unknown.Count > 0 || unmatched.Count > 0 || incomplete.Count > 0)
                throw new InvalidDataException($"LoRA '{path}': " + string.Join("; ", new[]
                {
                    unknown.Count > 0 ? $"{unknown.Count} key(s) of no known LoRA format (expected kohya lora_unet_*/lora_te_* .lora_down/.lora_up/.alpha or PEFT *.lora_A/.lora_B): {List(unknown)}" : null,
                    unmatched.Count > 0 ? $"{unmatched.Count} key(s) name no layer of this model: {List(unmatched)}" : null,
                    incomplete.Count > 0 ? $"{incomplete.Count} layer(s) lack their down or up matrix: {List(incomplete)}" : null,
                }.Where(s => s is not null)));

            var layers = new List<LoraLayer>();
            foreach (var ((target, weightKey), (down, up, alpha)) in parts)
            {
                using var scope = NewDisposeScope();   // the pipeline reads LoRAs outside its generation scope
                double rank = down!.shape[0];
                layers.Add(new LoraLayer(target, weightKey, down.detach().clone().MoveToOuterDisposeScope(), up!.detach().clone().MoveToOuterDisposeScope(),
                    alpha is null ? rank : alpha.to(ScalarType.Float64).item<double>()));
            }
            return layers;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    enum Part { Down, Up, Alpha }

    static bool Split(string key, out string layer, out Part part)
    {
        foreach (var (suffix, p) in Suffixes)
            if (key.EndsWith(suffix, StringComparison.Ordinal))
            {
                (layer, part) = (key[..^suffix.Length], p);
                return true;
            }
        (layer, part) = ("", Part.Alpha);
        return false;
    }

    static readonly (string Suffix, Part Part)[] Suffixes =
    [
        (".lora_down.weight", Part.Down), (".lora_up.weight", Part.Up), (".alpha", Part.Alpha),
        (".lora_A.weight", Part.Down), (".lora_B.weight", Part.Up),
    ];

    // PEFT/diffusers: "unet.<path>" / "text_encoder.<path>" (or PEFT's "base_model.model.<path>" for a U-Net adapter).
    static (LoraTarget, string)? Peft(string layer, IReadOnlyDictionary<LoraTarget, IReadOnlyCollection<string>> weightKeys)
    {
        (LoraTarget Target, string Prefix)[] prefixes = [(LoraTarget.UNet, "unet."), (LoraTarget.TextEncoder, "text_encoder."), (LoraTarget.UNet, "base_model.model.")];
        foreach (var (target, prefix) in prefixes)
        {
            if (!layer.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string key = layer[prefix.Length..] + ".weight";
            return weightKeys.TryGetValue(target, out var keys) && keys.Contains(key) ? (target, key) : null;
        }
        return null;
    }

    /// <summary>
    /// A1111's short hash of a LoRA file for its "Lora hashes" parameter: the first 12 hex digits of kohya's
    /// <c>sshs_model_hash</c> metadata when present, else of the SHA-256 of the file after its safetensors header
    /// (A1111's "addnet" hash, <c>hashes.addnet_hash_safetensors</c>).
    /// </summary>
    public static string ShortHash(string path)
    {
        if (SafeTensors.ReadMetadata(path).TryGetValue("sshs_model_hash", out string? given) && given.Length >= 12)
            return given[..12].ToLowerInvariant();
        using var stream = File.OpenRead(path);
        Span<byte> length = stackalloc byte[8];
        stream.ReadExactly(length);
        stream.Seek(8 + (long)BitConverter.ToUInt64(length), SeekOrigin.Begin); // the header was validated by SafeTensors.ReadMetadata
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream))[..12];
    }

    static string List(List<string> keys) => string.Join(", ", keys.Take(20)) + (keys.Count > 20 ? ", ..." : "");
}
