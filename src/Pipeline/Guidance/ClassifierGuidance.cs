using Latent.Core.Engine;
using Latent.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline.Guidance;

/// <summary>
/// Classifier guidance (Dhariwal &amp; Nichol 2021, Algorithm 2 and eq. 14 for an epsilon model): each denoising step
/// shifts the (classifier-free guided or plain) prediction by the gradient of the classifier's log-probability of the
/// class, eps^ = eps_theta(x_t) - sqrt(1 - alpha_bar_t) s grad_{x_t} log p_phi(y | x_t, t).
/// </summary>
/// <remarks>
/// <para>A class may be a set of acceptable classes (a judge prompt's several emoji): log p(y in S | x_t) =
/// log sum_{c in S} p_phi(c | x_t). The classifier sees x_t as the U-Net does (the scheduler's scaled input) and t.</para>
/// <para>The shift is in epsilon space, so it works with every scheduler here; the U-Net must predict epsilon. With a
/// learned variance (2C channels) only the mean half moves.</para>
/// </remarks>
public sealed class ClassifierGuidance
{
    readonly NoisyLatentClassifier classifier;
    readonly bool[][] targets;

    /// <summary>Guides toward one class set per image.</summary>
    /// <param name="classifier">p_phi, frozen (see <see cref="ClassifierFolder.Load"/>).</param>
    /// <param name="scale">s &gt;= 0 (0: off).</param>
    /// <param name="classesPerImage">For each of the B images, the class indices it is guided toward (empty: that image is not guided).</param>
    /// <exception cref="ArgumentException">The scale is negative or not finite, or a class is out of range.</exception>
    public ClassifierGuidance(NoisyLatentClassifier classifier, double scale, IReadOnlyList<IReadOnlyCollection<int>> classesPerImage)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(classesPerImage);
        if (!(scale >= 0) || !double.IsFinite(scale))
            throw new ArgumentException($"classifier scale is {scale}; expected a finite value >= 0", nameof(scale));
        int k = classifier.Config.NumClasses;
        targets = new bool[classesPerImage.Count][];
        for (int b = 0; b < classesPerImage.Count; b++)
        {
            // An empty set leaves its image unguided: every class is acceptable, log p = 0, its gradient 0.
            targets[b] = new bool[k];
            if (classesPerImage[b].Count == 0) Array.Fill(targets[b], true);
            foreach (int c in classesPerImage[b])
            {
                if (c < 0 || c >= k) throw new ArgumentException($"image {b}: class {c}; expected one in [0, {k})", nameof(classesPerImage));
                targets[b][c] = true;
            }
        }
        this.classifier = classifier;
        Scale = scale;
    }

    /// <summary>s.</summary>
    public double Scale { get; }

    /// <summary>The number of images B it guides.</summary>
    public int Images => targets.Length;

    /// <summary>log p_phi(y in S_b | x_b, t) per image: [B].</summary>
    /// <param name="x">x_t: [B, C, h, w].</param>
    /// <param name="t">The timestep.</param>
    public Tensor LogProbability(Tensor x, double t)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.shape[0] != targets.Length)
            throw new ArgumentException($"x_t has {x.shape[0]} images; this guidance has class sets for {targets.Length}", nameof(x));
        using var scope = NewDisposeScope();
        using var tS = t.ToScalar();
        Tensor times = full([x.shape[0]], tS, dtype: ScalarType.Float32, device: x.device);
        Tensor logp = nn.functional.log_softmax(classifier.call(x, times), 1);                 // [B, K]
        Tensor mask = tensor(targets.SelectMany(r => r).ToArray(), device: x.device).reshape(targets.Length, -1);
        Tensor chosen = logp.masked_fill(mask.logical_not(), Scalars.Of(double.NegativeInfinity));
        return chosen.logsumexp(1).MoveToOuterDisposeScope();                                  // [B]
    }

    /// <summary>grad_{x_t} sum_b log p_phi(y in S_b | x_b, t): [B, C, h, w], with gradients on whatever the caller disabled.</summary>
    /// <param name="x">x_t: [B, C, h, w]; not modified.</param>
    /// <param name="t">The timestep.</param>
    public Tensor Gradient(Tensor x, double t)
    {
        ArgumentNullException.ThrowIfNull(x);
        // Gradients are on even inside a caller's no_grad or inference_mode (the evaluator's): the clone made with
        // inference mode off is a normal tensor that autograd can record, whatever x was made under.
        using var notInference = inference_mode(false);
        using var enabled = enable_grad();
        using var scope = NewDisposeScope();
        Tensor leaf = x.detach().clone().requires_grad_(true);
        Tensor total = LogProbability(leaf, t).sum();
        Tensor grad = autograd.grad([total], [leaf])[0];
        return grad.detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// eps^ = eps - sqrt(1 - alpha_bar_t) s grad: the prediction shifted toward the class.
    /// </summary>
    /// <param name="prediction">eps: [B, C, h, w], or [B, 2C, h, w] with a learned variance (only the first C move).</param>
    /// <param name="x">x_t as the U-Net saw it: [B, C, h, w].</param>
    /// <param name="t">The timestep (a fractional one takes alpha_bar of the nearest integer step).</param>
    /// <param name="schedule">The noise schedule (alpha_bar_t).</param>
    /// <returns>The shifted prediction, the shape of <paramref name="prediction"/>; owned by the caller's scope.</returns>
    public Tensor Apply(Tensor prediction, Tensor x, double t, NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(schedule);
        if (Scale == 0) return prediction.alias();
        long step = Math.Clamp((long)Math.Round(t), 0, schedule.NumTrainTimesteps - 1);
        using var shift = (Math.Sqrt(1.0 - schedule.AlphasCumprod[step]) * Scale).ToScalar();
        Tensor grad = Gradient(x, t);                                                           // [B, C, h, w]
        if (prediction.shape[1] == x.shape[1]) return prediction - shift * grad;
        var (eps, variance) = LearnedRange.Split(prediction);
        return cat([eps - shift * grad, variance], 1);
    }
}
