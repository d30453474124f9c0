using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>EMA settings, named as diffusers' <c>EMAModel</c> arguments.</summary>
/// <param name="Decay">The largest decay (0.9999, diffusers' default: an average over ~10k steps).</param>
/// <param name="MinDecay">The smallest decay once updates start (0, diffusers' default).</param>
/// <param name="UpdateAfterStep">Updates up to and including this one copy the weights instead of averaging.</param>
/// <param name="UseWarmup">Ramp the decay as 1 − (1 + s/γ⁻¹)^(−power) instead of using <see cref="Decay"/> at once;
/// worth it for runs too short for 0.9999 to forget the random initial weights.</param>
/// <param name="InvGamma">γ⁻¹ of the warm-up (1, diffusers' default).</param>
/// <param name="Power">Power of the warm-up (2/3, diffusers' default: 0.999 at ~31.6k steps).</param>
public sealed record EmaConfig(
    double Decay = 0.9999,
    double MinDecay = 0.0,
    long UpdateAfterStep = 0,
    bool UseWarmup = false,
    double InvGamma = 1.0,
    double Power = 2.0 / 3.0)
{
    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it and its value.</exception>
    public void Validate()
    {
        if (!(Decay >= 0 && Decay <= 1)) throw new ArgumentOutOfRangeException(nameof(Decay), Decay, "must be in [0, 1]");
        if (!(MinDecay >= 0 && MinDecay <= Decay))
            throw new ArgumentOutOfRangeException(nameof(MinDecay), MinDecay, $"must be in [0, Decay = {Decay}]");
        if (UpdateAfterStep < 0) throw new ArgumentOutOfRangeException(nameof(UpdateAfterStep), UpdateAfterStep, "must be >= 0");
        if (!(InvGamma > 0)) throw new ArgumentOutOfRangeException(nameof(InvGamma), InvGamma, "must be > 0");
        if (!(Power > 0)) throw new ArgumentOutOfRangeException(nameof(Power), Power, "must be > 0");
    }
}

/// <summary>
/// An exponential moving average of a model's parameters (diffusers' <c>EMAModel</c>): shadow copies updated after
/// each optimizer step, swapped into the model for evaluation, saved in checkpoints.
/// </summary>
/// <remarks>
/// After the k-th call of <see cref="Update"/> (k = 1, 2, ...), with d = <see cref="DecayAt"/>(k), each shadow s of a
/// trainable parameter p becomes s − (1 − d)(s − p), i.e. d·s + (1 − d)·p; a frozen parameter's shadow is a copy of it.
/// The shadows are detached from every dispose scope and live until <see cref="Dispose"/>.
/// </remarks>
public sealed class ExponentialMovingAverage : IDisposable
{
    readonly string[] names;
    readonly Parameter[] parameters;
    readonly Tensor[] shadows;

    /// <summary>Starts the average at the parameters' current values.</summary>
    /// <param name="namedParameters">Usually <c>model.named_parameters()</c>; the EMA tracks these objects.</param>
    /// <param name="config">Decay settings; validated.</param>
    /// <exception cref="ArgumentException">Two parameters share a name.</exception>
    public ExponentialMovingAverage(IEnumerable<(string name, Parameter parameter)> namedParameters, EmaConfig config)
    {
        ArgumentNullException.ThrowIfNull(namedParameters);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var list = namedParameters.ToList();
        var duplicate = list.GroupBy(np => np.name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"parameter name '{duplicate.Key}' appears twice", nameof(namedParameters));
        names = list.Select(np => np.name).ToArray();
        parameters = list.Select(np => np.parameter).ToArray();
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();   // holds each detach() while clone() reads it; trainers build this outside a scope
        shadows = parameters.Select(p => p.detach().clone().DetachFromDisposeScope()).ToArray();
    }

    /// <summary>The decay settings.</summary>
    public EmaConfig Config { get; }

    /// <summary>How many times <see cref="Update"/> ran (diffusers' <c>optimization_step</c>).</summary>
    public long OptimizationStep { get; private set; }

    /// <summary>The decay the last <see cref="Update"/> used.</summary>
    public double CurrentDecay { get; private set; }

    /// <summary>
    /// The decay of the <paramref name="optimizationStep"/>-th update: with s = max(0, k − UpdateAfterStep − 1),
    /// 0 when s = 0, else clamp(UseWarmup ? 1 − (1 + s/InvGamma)^(−Power) : Decay, MinDecay, Decay).
    /// </summary>
    public double DecayAt(long optimizationStep)
    {
        long s = Math.Max(0, optimizationStep - Config.UpdateAfterStep - 1);
        if (s <= 0) return 0.0;
        double d = Config.UseWarmup ? 1.0 - Math.Pow(1.0 + s / Config.InvGamma, -Config.Power) : Config.Decay;
        return Math.Max(Math.Min(d, Config.Decay), Config.MinDecay);
    }

    /// <summary>Folds the parameters' current values into the average; call after each optimizer step.</summary>
    public void Update()
    {
        OptimizationStep++;
        double decay = DecayAt(OptimizationStep);
        CurrentDecay = decay;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var oneMinusDecay = (1.0 - decay).ToScalar();
        for (int i = 0; i < shadows.Length; i++)
        {
            if (parameters[i].requires_grad) shadows[i].sub_((shadows[i] - parameters[i]).mul_(oneMinusDecay));
            else shadows[i].copy_(parameters[i]);
        }
    }

    /// <summary>The shadow tensors by parameter name: live, not copies; do not dispose or modify them.</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>(names.Length);
        for (int i = 0; i < names.Length; i++) d[names[i]] = shadows[i];
        return d;
    }

    /// <summary>Every problem with saved shadows (missing, unexpected or mis-shaped names); empty when they fit.</summary>
    public List<string> CheckState(IReadOnlyDictionary<string, Tensor> saved) => StateCheck.Compare("EMA", StateTensors(), saved);

    /// <summary>Restores shadows saved by <see cref="StateTensors"/> and the update count, bit for bit.</summary>
    /// <exception cref="InvalidDataException">The shadows do not fit; the message names every key.</exception>
    public void LoadState(IReadOnlyDictionary<string, Tensor> saved, long optimizationStep)
    {
        var problems = CheckState(saved);
        if (problems.Count > 0) throw new InvalidDataException(string.Join("; ", problems));
        if (optimizationStep < 0) throw new InvalidDataException($"EMA optimization step must be >= 0, got {optimizationStep}");
        using var noGrad = torch.no_grad();
        for (int i = 0; i < names.Length; i++) shadows[i].copy_(saved[names[i]]);
        SetOptimizationStep(optimizationStep);
    }

    /// <summary>Sets the update count after the shadows were restored in place by the caller.</summary>
    internal void SetOptimizationStep(long optimizationStep)
    {
        OptimizationStep = optimizationStep;
        CurrentDecay = optimizationStep > 0 ? DecayAt(optimizationStep) : 0.0;
    }

    /// <summary>Overwrites the tracked parameters with the averages (e.g. before saving the final EMA weights).</summary>
    public void CopyToModel()
    {
        using var noGrad = torch.no_grad();
        for (int i = 0; i < shadows.Length; i++) parameters[i].copy_(shadows[i]);
    }

    /// <summary>
    /// Puts the averages into the model until the returned object is disposed, which puts the training weights back
    /// bit for bit: <c>using (ema.SwapIntoModel()) Evaluate(model);</c>
    /// </summary>
    public IDisposable SwapIntoModel()
    {
        Tensor[] stored;
        using (NewDisposeScope())
        using (torch.no_grad())
            stored = parameters.Select(p => p.detach().clone().DetachFromDisposeScope()).ToArray();
        CopyToModel();
        return new Restorer(parameters, stored);
    }

    sealed class Restorer(Parameter[] parameters, Tensor[] stored) : IDisposable
    {
        bool done;

        public void Dispose()
        {
            if (done) return;
            done = true;
            using var noGrad = torch.no_grad();
            for (int i = 0; i < stored.Length; i++)
            {
                parameters[i].copy_(stored[i]);
                stored[i].Dispose();
            }
        }
    }

    /// <summary>Frees the shadow tensors.</summary>
    public void Dispose()
    {
        foreach (var s in shadows) s.Dispose();
    }
}
