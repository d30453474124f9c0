using System.Globalization;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>
/// Skips the optimizer update of a step whose loss or total gradient norm is not finite, never silently: each skip is
/// counted and logged with the parameters whose gradients are not finite, and more than
/// <see cref="MaxConsecutiveSkips"/> skips in a row stop the run with a <see cref="NonFiniteGradientException"/>. The
/// VAE, CLIP and U-Net trainers share it.
/// </summary>
/// <remarks>
/// An update from a NaN or infinite gradient would write NaN into the weights and AdamW's moments for good, so the step
/// is dropped. A NaN loss skips it too: its gradient can still look finite (L1's backward takes sign(NaN) = 0), so the
/// norm alone would let a broken forward "train" on. A lone skip in a long run is survivable (a rare overflow); a run
/// that keeps skipping is broken (a learning rate that diverged, NaN weights or inputs, an engine fault) and must stop
/// rather than go on without updates. A skip appends one line to <c>log.jsonl</c>:
/// <c>{"step": 7, "skipped_step": "gradient norm NaN", "skipped_in_a_row": 1, "non_finite_grads": 57,
/// "first_non_finite": "encoder.conv_in.weight", "last_non_finite": "decoder.up_blocks.1.resnets.1.norm2.bias"}</c>;
/// a NaN that flows backward from one layer makes that layer's parameters and all before it in the graph non-finite,
/// so the first and last names bracket where it came from.
/// </remarks>
public sealed class NonFiniteGradientGuard
{
    /// <summary>Skips in a row that a run survives; the next one stops it (a transient overflow does not last 4 steps).</summary>
    public const int MaxConsecutiveSkips = 3;

    /// <summary>The key that marks a skip's line in <c>log.jsonl</c> (its value is the reason, e.g. "gradient norm NaN").</summary>
    public const string LogKey = "skipped_step";

    /// <summary>Steps skipped since this guard was made (in this process).</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Skips in a row, up to the last step checked.</summary>
    public int ConsecutiveSkips { get; private set; }

    /// <summary>
    /// Decides on one step after backward (and clipping): false (update) when <paramref name="loss"/> and
    /// <paramref name="norm"/> are finite; otherwise counts the skip, logs it and returns true.
    /// </summary>
    /// <param name="step">The step's number as the trainer reports it (1 for the first step).</param>
    /// <param name="loss">The step's loss.</param>
    /// <param name="norm">The step's total gradient norm.</param>
    /// <param name="parameters">The model's named parameters; searched for non-finite gradients only when the step is skipped.</param>
    /// <param name="log">The run's log, which gets one line per skip.</param>
    /// <returns>True when the optimizer update must be skipped.</returns>
    /// <exception cref="NonFiniteGradientException">This skip is more than <see cref="MaxConsecutiveSkips"/> in a row; the message names
    /// the step and the first parameter whose gradient is not finite.</exception>
    public bool Skip(long step, double loss, GradientNorm norm, IEnumerable<(string name, Parameter parameter)> parameters, TrainingLog log)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(log);
        if (double.IsFinite(loss) && norm.IsFinite)
        {
            ConsecutiveSkips = 0;
            return false;
        }
        SkippedSteps++;
        ConsecutiveSkips++;
        var all = parameters.ToList();
        List<string> bad = NonFiniteGradients(all);
        var c = CultureInfo.InvariantCulture;
        string reason = string.Join(", ", new[]
        {
            double.IsFinite(loss) ? null : $"loss {loss.ToString(c)}",
            norm.IsFinite ? null : $"gradient norm {norm.TotalNorm.ToString(c)}",
        }.OfType<string>());
        log.Append(new JsonObject
        {
            ["step"] = step,
            [LogKey] = reason,
            ["skipped_in_a_row"] = ConsecutiveSkips,
            ["non_finite_grads"] = bad.Count,
            ["first_non_finite"] = bad.Count > 0 ? bad[0] : null,
            ["last_non_finite"] = bad.Count > 0 ? bad[^1] : null,
        });
        if (ConsecutiveSkips <= MaxConsecutiveSkips) return true;

        string where = bad.Count > 0
            ? $"first parameter with a non-finite gradient: {bad[0]} ({bad.Count} of {all.Count} parameters, the last in model order {bad[^1]})"
            : norm.IsFinite ? "every gradient is finite" : "every gradient is finite but their norm overflows float32";
        throw new NonFiniteGradientException(step, bad.Count > 0 ? bad[0] : null,
            $"training stopped at step {step}: {ConsecutiveSkips} steps in a row were skipped for a non-finite loss or gradient " +
            $"(at most {MaxConsecutiveSkips} in a row are; the last: {reason}); {where}. Likely causes: a learning rate that " +
            $"diverged, NaN weights or inputs; each skip is a '{LogKey}' line in {log.Path}.");
    }

    // The names of the parameters whose gradient holds a NaN or an infinity, in model order.
    static List<string> NonFiniteGradients(List<(string name, Parameter parameter)> parameters)
    {
        var names = new List<string>();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in parameters)
        {
            if (parameter.grad is { } grad && !isfinite(grad).all().item<bool>()) names.Add(name);
        }
        return names;
    }
}
