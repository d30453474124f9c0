using Latent.Core.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.Lora;

/// <summary>
/// Fuses LoRAs into a model's weights and takes them out again exactly: the first time a weight is changed its
/// original is copied aside, and <see cref="Restore"/> copies it back bit for bit (subtracting the update again would
/// leave float32 rounding behind).
/// </summary>
/// <remarks>
/// The update of one layer is W += multiplier * alpha / rank * (up @ down), with up [out, r] and down [r, in] for a
/// linear layer; for a conv, down [r, in, kh, kw] is flattened to [r, in*kh*kw] and up [out, r, 1, 1] to [out, r], and
/// the product is reshaped to W's [out, in, kh, kw]. It is computed in float32 on W's device and added in place.
/// </remarks>
public sealed class LoraFuser : IDisposable
{
    readonly Dictionary<LoraTarget, nn.Module> modules;
    readonly Dictionary<(LoraTarget, string), Tensor> originals = [];

    /// <summary>Works on <paramref name="modules"/>, which it does not own.</summary>
    public LoraFuser(IReadOnlyDictionary<LoraTarget, nn.Module> modules) => this.modules = new(modules);

    /// <summary>The weight keys of each module, for <see cref="LoraFile.Read"/>.</summary>
    public IReadOnlyDictionary<LoraTarget, IReadOnlyCollection<string>> WeightKeys =>
        modules.ToDictionary(kv => kv.Key, kv => (IReadOnlyCollection<string>)kv.Value.state_dict().Keys.ToHashSet(StringComparer.Ordinal));

    /// <summary>Adds <paramref name="layers"/> times <paramref name="multiplier"/> to the weights (after the ones fused before).</summary>
    /// <exception cref="InvalidDataException">A layer's matrices do not fit its weight; nothing of this call is applied.</exception>
    public void Fuse(IReadOnlyList<LoraLayer> layers, double multiplier, string source)
    {
        // Check every shape first, so a bad file changes nothing.
        var dicts = modules.ToDictionary(kv => kv.Key, kv => kv.Value.state_dict());
        foreach (var l in layers)
        {
            Tensor w = dicts[l.Target][l.WeightKey];
            long rank = l.Down.shape[0];
            bool fits = l.Up.shape[0] == w.shape[0] && l.Up.numel() == w.shape[0] * rank && l.Down.numel() == rank * (w.numel() / w.shape[0]);
            if (!fits)
                throw new InvalidDataException($"LoRA '{source}': {l.Target} {l.WeightKey} is [{string.Join(", ", w.shape)}] but the LoRA has up [{string.Join(", ", l.Up.shape)}] and down [{string.Join(", ", l.Down.shape)}]");
        }
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var l in layers)
        {
            Tensor w = dicts[l.Target][l.WeightKey];
            if (!originals.ContainsKey((l.Target, l.WeightKey)))
                originals[(l.Target, l.WeightKey)] = w.detach().clone().MoveToOuterDisposeScope();
            long rank = l.Down.shape[0];
            using var scale = (multiplier * l.Alpha / rank).ToScalar();
            Tensor up = l.Up.to(ScalarType.Float32, w.device).reshape(w.shape[0], rank);
            Tensor down = l.Down.to(ScalarType.Float32, w.device).reshape(rank, -1);
            Tensor delta = up.matmul(down).reshape(w.shape).mul(scale);
            w.add_(delta.to(w.dtype), Scalars.One);
        }
    }

    /// <summary>Copies every changed weight back to its original, exactly.</summary>
    public void Restore()
    {
        var dicts = modules.ToDictionary(kv => kv.Key, kv => kv.Value.state_dict());
        using (no_grad())
            foreach (var ((target, key), original) in originals)
            {
                dicts[target][key].copy_(original);
                original.Dispose();
            }
        originals.Clear();
    }

    /// <summary>Whether any weight is changed now.</summary>
    public bool IsFused => originals.Count > 0;

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var t in originals.Values) t.Dispose();
        originals.Clear();
    }
}
