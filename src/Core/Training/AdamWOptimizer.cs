using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>AdamW hyper-parameters; the defaults are those of diffusers' training scripts.</summary>
/// <param name="LearningRate">Peak learning rate; a schedule scales it per step (diffusers' default 1e-4).</param>
/// <param name="Beta1">Decay of the first-moment average m (0.9, Adam's paper).</param>
/// <param name="Beta2">Decay of the second-moment average v (0.999, Adam's paper).</param>
/// <param name="Epsilon">Added to sqrt(v̂) so the step stays finite (1e-8, Adam's paper).</param>
/// <param name="WeightDecay">Decoupled weight decay λ for the parameters that decay (1e-2, diffusers' default).</param>
public sealed record AdamWConfig(
    double LearningRate = 1e-4,
    double Beta1 = 0.9,
    double Beta2 = 0.999,
    double Epsilon = 1e-8,
    double WeightDecay = 1e-2)
{
    /// <summary>Throws when a value is outside the range AdamW is defined for.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it and its value.</exception>
    public void Validate()
    {
        if (!(LearningRate >= 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be >= 0");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "must be in [0, 1)");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "must be in [0, 1)");
        if (!(Epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "must be >= 0");
        if (!(WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "must be >= 0");
    }
}

/// <summary>
/// AdamW over named parameters, built on TorchSharp's <c>torch.optim.AdamW</c>, with a per-parameter weight-decay choice
/// and its complete state exposed by parameter name so that a checkpoint restores it bit for bit.
/// </summary>
/// <remarks>
/// <para>The update for each parameter p with gradient g at its step t (PyTorch's AdamW, which TorchSharp's matches):
/// p ← p·(1 − lr·λ); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
/// p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε).</para>
/// <para>The library's state (<c>AdamW.State</c>: <c>step</c>, <c>exp_avg</c>, <c>exp_avg_sq</c>) is public, so we keep
/// the library's step and only add what it lacks: names. Its own <c>save_state_dict</c> writes a TorchSharp-only stream
/// in parameter order; ours goes into the safetensors checkpoint keyed by name, so a mismatch names the parameter.</para>
/// <para>Build the optimizer outside any dispose scope or not: its state tensors are detached from the scope that is
/// current at construction (the classic TorchSharp use-after-dispose: zeros created inside a step's scope die with it).</para>
/// </remarks>
public sealed class AdamWOptimizer : IDisposable
{
    readonly TorchSharp.Modules.AdamW inner;
    readonly string[] names;                 // in the order of inner.state_dict().State: decaying group, then the rest
    readonly Parameter[] parameters;
    readonly bool[] decaying;
    readonly TorchSharp.Modules.AdamW.State[] states;

    /// <summary>Creates the optimizer over the parameters that require a gradient.</summary>
    /// <param name="namedParameters">Usually <c>model.named_parameters()</c>; frozen ones (no grad) are skipped.</param>
    /// <param name="config">Hyper-parameters; validated.</param>
    /// <param name="decays">Whether a parameter gets weight decay; null means all do. See <see cref="DecayMatricesOnly"/>.</param>
    /// <exception cref="ArgumentException">Two parameters share a name, or no parameter requires a gradient.</exception>
    public AdamWOptimizer(
        IEnumerable<(string name, Parameter parameter)> namedParameters,
        AdamWConfig config,
        Func<string, Parameter, bool>? decays = null)
    {
        ArgumentNullException.ThrowIfNull(namedParameters);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var trainable = namedParameters.Where(np => np.parameter.requires_grad).ToList();
        if (trainable.Count == 0) throw new ArgumentException("no parameter requires a gradient", nameof(namedParameters));
        var duplicate = trainable.GroupBy(np => np.name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"parameter name '{duplicate.Key}' appears twice", nameof(namedParameters));

        decays ??= (_, _) => true;
        var withDecay = trainable.Where(np => decays(np.name, np.parameter)).ToList();
        var withoutDecay = trainable.Where(np => !decays(np.name, np.parameter)).ToList();
        var groups = new List<TorchSharp.Modules.AdamW.ParamGroup>();
        if (withDecay.Count > 0) groups.Add(Group(withDecay, config, config.WeightDecay));
        if (withoutDecay.Count > 0) groups.Add(Group(withoutDecay, config, 0.0));
        inner = torch.optim.AdamW(groups, config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);

        var ordered = withDecay.Concat(withoutDecay).ToList();
        names = ordered.Select(np => np.name).ToArray();
        parameters = ordered.Select(np => np.parameter).ToArray();
        decaying = ordered.Select((_, i) => i < withDecay.Count && config.WeightDecay > 0).ToArray();
        states = inner.state_dict().State.Cast<TorchSharp.Modules.AdamW.State>().ToArray();
        if (states.Length != names.Length)
            throw new InvalidOperationException($"TorchSharp's AdamW holds {states.Length} states for {names.Length} parameters");
        foreach (var s in states)
        {
            s.exp_avg.DetachFromDisposeScope();
            s.exp_avg_sq.DetachFromDisposeScope();
        }
    }

    static TorchSharp.Modules.AdamW.ParamGroup Group(List<(string name, Parameter parameter)> ps, AdamWConfig c, double wd) =>
        new(ps.Select(np => np.parameter), c.LearningRate, c.Beta1, c.Beta2, c.Epsilon, wd);

    /// <summary>
    /// The usual choice for <c>decays</c>: weight decay for matrices and kernels (two or more dimensions), none for
    /// biases and normalisation scales (one dimension), as in nanoGPT and most diffusion trainers.
    /// </summary>
    public static bool DecayMatricesOnly(string name, Parameter parameter) => parameter.dim() >= 2;

    /// <summary>The hyper-parameters it was built with.</summary>
    public AdamWConfig Config { get; }

    /// <summary>Names of the optimised parameters, in state order.</summary>
    public IReadOnlyList<string> ParameterNames => names;

    /// <summary>Whether the named parameter gets weight decay.</summary>
    /// <exception cref="KeyNotFoundException">The optimizer does not hold that parameter.</exception>
    public bool HasWeightDecay(string name)
    {
        int i = Array.IndexOf(names, name);
        if (i < 0) throw new KeyNotFoundException($"the optimizer holds no parameter '{name}'");
        return decaying[i];
    }

    /// <summary>The learning rate of the next <see cref="Step"/>; setting it sets every group's (the schedule's job).</summary>
    public double LearningRate
    {
        get => inner.ParamGroups.First().LearningRate;
        set
        {
            if (!(value >= 0)) throw new ArgumentOutOfRangeException(nameof(value), value, "learning rate must be >= 0");
            foreach (var g in inner.ParamGroups) g.LearningRate = value;
        }
    }

    /// <summary>Zeros the gradients of the optimised parameters (in place; parameters without a gradient are skipped).</summary>
    public void ZeroGrad() => inner.zero_grad();

    /// <summary>Applies one AdamW update to every parameter that has a gradient; the others keep their state and step.</summary>
    public void Step() => inner.step();

    /// <summary>
    /// The live state tensors by key <c>{name}.exp_avg</c> (m) and <c>{name}.exp_avg_sq</c> (v). They are the optimizer's
    /// own tensors, not copies: read or save them, do not dispose or modify them.
    /// </summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>(2 * names.Length);
        for (int i = 0; i < names.Length; i++)
        {
            d[names[i] + ".exp_avg"] = states[i].exp_avg;
            d[names[i] + ".exp_avg_sq"] = states[i].exp_avg_sq;
        }
        return d;
    }

    /// <summary>Each parameter's step count t (the bias-correction exponent), by name.</summary>
    public Dictionary<string, long> StepCounts()
    {
        var d = new Dictionary<string, long>(names.Length);
        for (int i = 0; i < names.Length; i++) d[names[i]] = states[i].step;
        return d;
    }

    /// <summary>
    /// Checks state saved by <see cref="StateTensors"/> and <see cref="StepCounts"/> against this optimizer and returns
    /// every problem (missing, unexpected or mis-shaped key); empty when it fits.
    /// </summary>
    public List<string> CheckState(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, long> steps)
    {
        var problems = StateCheck.Compare("optimizer state", StateTensors(), tensors);
        problems.AddRange(CheckStepCounts(steps));
        return problems;
    }

    /// <summary>Problems with saved step counts: a parameter without one, or one for an unknown parameter.</summary>
    internal List<string> CheckStepCounts(IReadOnlyDictionary<string, long> steps)
    {
        var problems = new List<string>();
        var missingSteps = names.Where(n => !steps.ContainsKey(n)).ToList();
        var extraSteps = steps.Keys.Where(n => Array.IndexOf(names, n) < 0).ToList();
        var negative = steps.Where(kv => kv.Value < 0).Select(kv => $"{kv.Key} ({kv.Value})").ToList();
        if (missingSteps.Count > 0) problems.Add("optimizer step counts missing for: " + StateCheck.List(missingSteps));
        if (extraSteps.Count > 0) problems.Add("optimizer step counts for unknown parameters: " + StateCheck.List(extraSteps));
        if (negative.Count > 0) problems.Add("negative optimizer step counts: " + StateCheck.List(negative));
        return problems;
    }

    /// <summary>Sets the step counts after <see cref="CheckStepCounts"/> passed (the tensors are restored in place by the caller).</summary>
    internal void SetStepCounts(IReadOnlyDictionary<string, long> steps)
    {
        for (int i = 0; i < names.Length; i++) states[i].step = steps[names[i]];
    }

    /// <summary>Restores state saved by <see cref="StateTensors"/> and <see cref="StepCounts"/>, copying bit for bit.</summary>
    /// <exception cref="InvalidDataException">The state does not fit this optimizer; the message names every key.</exception>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, long> steps)
    {
        var problems = CheckState(tensors, steps);
        if (problems.Count > 0) throw new InvalidDataException(string.Join("; ", problems));
        using var noGrad = torch.no_grad();
        for (int i = 0; i < names.Length; i++)
        {
            states[i].exp_avg.copy_(tensors[names[i] + ".exp_avg"]);
            states[i].exp_avg_sq.copy_(tensors[names[i] + ".exp_avg_sq"]);
        }
        SetStepCounts(steps);
    }

    /// <summary>The parameters, in state order (the same objects the model holds).</summary>
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>Frees the state tensors.</summary>
    public void Dispose() => inner.Dispose();
}
