using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>The inputs of a <see cref="BFloat16Compute{TModel}"/> pass.</summary>
public static class BFloat16Compute
{
    /// <summary>A floating input in the copy's dtype (bf16); integer tensors (timesteps, ids) unchanged.</summary>
    public static Tensor In(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x.is_floating_point() ? x.to(ScalarType.BFloat16) : x;
    }
}

/// <summary>
/// bf16 compute with float32 master weights (<see cref="MixedPrecision.BFloat16"/>): the trainer's model keeps its
/// float32 weights, which the optimizer, EMA, clipping, all-reduce and checkpoints see unchanged; a bfloat16 copy of the
/// same architecture runs the forward and backward pass. Per step: <see cref="Forward"/> rounds the masters into the copy
/// and runs it; after <c>loss.backward()</c>, <see cref="GradientsToMasters"/> hands the copy's gradients to the masters
/// as float32.
/// </summary>
/// <remarks>
/// <para>Why a copy: TorchSharp 0.107 has no autocast and our modules call their children's <c>forward</c> directly
/// (forward hooks never run), so the dtype of a pass is the dtype of the module's weights. The copy costs one bf16
/// weight set (2 bytes a parameter) and two conversions of every weight a step (a few ms for the 22.6M-parameter U-Net
/// against a step of about a second).</para>
/// <para>The math: w_bf16 = round_to_nearest_even(w), the masters' gradient g = float32(∂L/∂w_bf16) and the update
/// w ← AdamW(w, g) in float32, so steps smaller than bf16's resolution (2^-8 relative) still accumulate in the masters
/// (mixed-precision training, Micikevicius et al. 2018; bf16 keeps float32's exponent range, so no loss scaling).
/// The loss should be computed in float32 from the float32 output of <see cref="Forward"/>.</para>
/// <para>The copy is derived from the masters before every pass, so it holds no state: checkpoints need nothing of it
/// and a resumed run continues exactly as the uninterrupted one.</para>
/// <para>bf16 is refused, as for inference, where <see cref="BFloat16Check"/> finds this CPU's bf16 kernels inaccurate.</para>
/// </remarks>
/// <typeparam name="TModel">The model class; the copy must be the same architecture.</typeparam>
public sealed class BFloat16Compute<TModel> : IDisposable where TModel : nn.Module
{
    readonly TModel copy;
    readonly (Parameter Master, Parameter Copy)[] parameters;

    /// <summary>Takes over <paramref name="copy"/> (converted to bf16 here) to compute for <paramref name="master"/>.</summary>
    /// <param name="master">The float32 model being trained (not owned).</param>
    /// <param name="copy">A new model of the same architecture (owned; its initial weights are overwritten).</param>
    /// <exception cref="ArgumentException">The two models' parameter or buffer names or shapes differ, or a master
    /// parameter is not float32.</exception>
    /// <exception cref="BFloat16InaccurateException">This engine computes bf16 wrongly on this CPU.</exception>
    public BFloat16Compute(TModel master, TModel copy)
    {
        ArgumentNullException.ThrowIfNull(master);
        ArgumentNullException.ThrowIfNull(copy);
        BFloat16Check.EnsureAccurate(BFloat16Check.Engine, model: null);
        var masters = master.named_parameters().ToList();
        var copies = copy.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        if (masters.Count != copies.Count || masters.Any(m => !copies.TryGetValue(m.name, out var c) || !c.shape.SequenceEqual(m.parameter.shape)))
            throw new ArgumentException($"the bf16 copy's {copies.Count} parameters do not match the model's {masters.Count} by name and shape; expected the same architecture", nameof(copy));
        if (masters.FirstOrDefault(m => m.parameter.dtype != ScalarType.Float32) is { name: not null } bad)
            throw new ArgumentException($"master weight {bad.name} is {bad.parameter.dtype}; expected Float32", nameof(master));
        this.copy = copy;
        copy.to(ScalarType.BFloat16);
        var converted = copy.named_parameters().ToDictionary(p => p.name, p => p.parameter);   // .to made new parameters
        parameters = masters.Select(m => (m.parameter, converted[m.name])).ToArray();
        using (no_grad())
        {
            var buffers = copy.named_buffers().ToDictionary(b => b.name, b => b.buffer);
            foreach (var (name, buffer) in master.named_buffers())
            {
                if (!buffers.TryGetValue(name, out var target) || !target.shape.SequenceEqual(buffer.shape))
                    throw new ArgumentException($"the bf16 copy has no buffer {name} of the model's shape; expected the same architecture", nameof(copy));
                target.copy_(buffer);
            }
        }
    }

    /// <summary>
    /// Rounds the master weights into the bf16 copy, puts the copy in the master's train/eval mode, runs
    /// <paramref name="call"/> on it and returns its output as float32.
    /// </summary>
    /// <param name="master">The float32 model (for its mode).</param>
    /// <param name="call">The forward call; floating inputs must be converted with <see cref="BFloat16Compute.In"/>.</param>
    /// <returns>The output in float32, attached to the copy's graph.</returns>
    public Tensor Forward(TModel master, Func<TModel, Tensor> call)
    {
        ArgumentNullException.ThrowIfNull(master);
        ArgumentNullException.ThrowIfNull(call);
        using (no_grad())
            foreach (var (m, c) in parameters) c.copy_(m);   // round to nearest even
        copy.train(master.training);
        return call(copy).to(ScalarType.Float32);
    }

    /// <summary>
    /// Adds the copy's gradients, as float32, to the master weights' gradients (as a backward pass of the masters would:
    /// call it once after <c>loss.backward()</c>, with the masters' gradients zeroed before the step) and clears the copy's.
    /// </summary>
    public void GradientsToMasters()
    {
        using var scope = NewDisposeScope();
        var withGrad = parameters.Where(p => p.Copy.grad is not null).ToList();
        if (withGrad.Count == 0) return;
        // A leaf's backward with a given gradient accumulates it into .grad (TorchSharp has no .grad setter): one engine
        // call for all masters.
        torch.autograd.backward(withGrad.Select(p => (Tensor)p.Master).ToList(), withGrad.Select(p => p.Copy.grad!.to(ScalarType.Float32)).ToList());
        copy.zero_grad();
    }

    /// <summary>Frees the bf16 copy.</summary>
    public void Dispose() => copy.Dispose();
}
