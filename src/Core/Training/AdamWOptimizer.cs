using Latent.Core.Engine;
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
/// AdamW over named parameters (PyTorch's <c>torch.optim.AdamW</c>, single-tensor form), with a per-parameter weight-decay
/// choice and its complete state exposed by parameter name so that a checkpoint restores it bit for bit.
/// </summary>
/// <remarks>
/// <para>The update for each parameter p with gradient g at its step t, as PyTorch 1.13's <c>_single_tensor_adamw</c>
/// computes it (tests/Core/Training/make_adamw_reference.py checks it to float32 rounding):
/// p ← p·(1 − lr·λ); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
/// p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε).</para>
/// <para>Why our own and not TorchSharp's <c>optim.AdamW</c>: its <c>step()</c> passes β1, 1 − β1, ε, lr·λ and the
/// step size as Scalars made on the spot, which the GC finalizer may free while libtorch reads them: training updates
/// silently differed between identical runs (see <see cref="Engine.Scalars"/>). Here every scalar operand is held by a
/// <c>using</c> local across its call.</para>
/// <para>The state is m (<c>exp_avg</c>), v (<c>exp_avg_sq</c>) and t per parameter, the layout of TorchSharp's
/// <c>AdamW.State</c> that earlier checkpoints saved, so they resume unchanged. The state tensors are detached from every
/// dispose scope (build the optimizer inside a step's scope or not).</para>
/// </remarks>
public sealed class AdamWOptimizer : IDisposable
{
    readonly string[] names;                 // decaying parameters first, then the rest
    readonly Parameter[] parameters;
    readonly bool[] decaying;
    readonly Tensor[] expAvg;                // m, same shape and dtype as each parameter
    readonly Tensor[] expAvgSq;              // v
    readonly long[] steps;                   // t: how many updates each parameter received
    double learningRate;

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
        learningRate = config.LearningRate;
        var trainable = namedParameters.Where(np => np.parameter.requires_grad).ToList();
        if (trainable.Count == 0) throw new ArgumentException("no parameter requires a gradient", nameof(namedParameters));
        var duplicate = trainable.GroupBy(np => np.name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"parameter name '{duplicate.Key}' appears twice", nameof(namedParameters));

        decays ??= (_, _) => true;
        var withDecay = trainable.Where(np => decays(np.name, np.parameter)).ToList();
        var withoutDecay = trainable.Where(np => !decays(np.name, np.parameter)).ToList();
        var ordered = withDecay.Concat(withoutDecay).ToList();
        names = ordered.Select(np => np.name).ToArray();
        parameters = ordered.Select(np => np.parameter).ToArray();
        decaying = ordered.Select((_, i) => i < withDecay.Count && config.WeightDecay > 0).ToArray();
        using (torch.no_grad())
        {
            expAvg = parameters.Select(p => torch.zeros_like(p).DetachFromDisposeScope()).ToArray();
            expAvgSq = parameters.Select(p => torch.zeros_like(p).DetachFromDisposeScope()).ToArray();
        }
        steps = new long[names.Length];
    }

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
        get => learningRate;
        set
        {
            if (!(value >= 0)) throw new ArgumentOutOfRangeException(nameof(value), value, "learning rate must be >= 0");
            learningRate = value;
        }
    }

    /// <summary>Zeros the gradients of the optimised parameters (in place; parameters without a gradient are skipped).</summary>
    public void ZeroGrad()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var p in parameters) p.grad?.zero_();
    }

    /// <summary>Applies one AdamW update to every parameter that has a gradient; the others keep their state and step.</summary>
    public void Step()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        double lr = learningRate, beta1 = Config.Beta1, beta2 = Config.Beta2;
        // Every scalar operand is held across its native call (Engine.Scalars); these are the same for all parameters.
        using var beta1S = beta1.ToScalar();
        using var oneMinusBeta1 = (1 - beta1).ToScalar();
        using var beta2S = beta2.ToScalar();
        using var oneMinusBeta2 = (1 - beta2).ToScalar();
        using var eps = Config.Epsilon.ToScalar();
        using var decayFactor = (1 - lr * Config.WeightDecay).ToScalar();
        for (int i = 0; i < parameters.Length; i++)
        {
            Parameter p = parameters[i];
            Tensor? grad = p.grad;                                         // held by the scope
            if (grad is null) continue;
            long t = ++steps[i];
            if (decaying[i]) p.mul_(decayFactor);                          // p ← p·(1 − lr·λ); λ = 0 would multiply by 1
            expAvg[i].mul_(beta1S).add_(grad, oneMinusBeta1);              // m ← β1·m + (1 − β1)·g
            expAvgSq[i].mul_(beta2S).addcmul_(grad, grad, oneMinusBeta2);  // v ← β2·v + (1 − β2)·g²
            double biasCorrection1 = 1 - Math.Pow(beta1, t);
            double biasCorrection2 = 1 - Math.Pow(beta2, t);
            using var sqrtBiasCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
            using var negStepSize = (-(lr / biasCorrection1)).ToScalar();
            var denom = expAvgSq[i].sqrt().div_(sqrtBiasCorrection2).add_(eps, Scalars.One); // sqrt(v̂) + ε, v̂ = v / (1 − β2^t)
            p.addcdiv_(expAvg[i], denom, negStepSize);                     // p ← p − lr/(1 − β1^t) · m / denom
        }
    }

    /// <summary>
    /// The live state tensors by key <c>{name}.exp_avg</c> (m) and <c>{name}.exp_avg_sq</c> (v). They are the optimizer's
    /// own tensors, not copies: read or save them, do not dispose or modify them.
    /// </summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>(2 * names.Length);
        for (int i = 0; i < names.Length; i++)
        {
            d[names[i] + ".exp_avg"] = expAvg[i];
            d[names[i] + ".exp_avg_sq"] = expAvgSq[i];
        }
        return d;
    }

    /// <summary>Each parameter's step count t (the bias-correction exponent), by name.</summary>
    public Dictionary<string, long> StepCounts()
    {
        var d = new Dictionary<string, long>(names.Length);
        for (int i = 0; i < names.Length; i++) d[names[i]] = steps[i];
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
        for (int i = 0; i < names.Length; i++) this.steps[i] = steps[names[i]];
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
            expAvg[i].copy_(tensors[names[i] + ".exp_avg"]);
            expAvgSq[i].copy_(tensors[names[i] + ".exp_avg_sq"]);
        }
        SetStepCounts(steps);
    }

    /// <summary>The parameters, in state order (the same objects the model holds).</summary>
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>Frees the state tensors.</summary>
    public void Dispose()
    {
        foreach (var t in expAvg) t.Dispose();
        foreach (var t in expAvgSq) t.Dispose();
    }
}
