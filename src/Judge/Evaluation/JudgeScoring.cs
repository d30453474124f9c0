using static TorchSharp.torch;

namespace Latent.Judge.Evaluation;

/// <summary>Runs the judge over many images in batches (eval mode, no gradients).</summary>
public static class JudgeScoring
{
    /// <summary>Logits [N, K] and features [N, D] of <paramref name="images"/> [N, 3, S', S'] in [-1, 1], resized to the
    /// judge's size when S' differs.</summary>
    public static (Tensor Logits, Tensor Features) Score(EmojiJudge judge, Tensor images, int batchSize = 128)
    {
        ArgumentNullException.ThrowIfNull(judge);
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"expected images [N, 3, H, W]; got [{string.Join(", ", images.shape)}].", nameof(images));
        bool wasTraining = judge.training;
        judge.eval();
        try
        {
            using var noGrad = no_grad();
            var logits = new List<Tensor>();
            var features = new List<Tensor>();
            int s = judge.Config.ImageSize;
            for (long first = 0; first < images.shape[0]; first += batchSize)
            {
                using var scope = NewDisposeScope();
                var x = images.narrow(0, first, Math.Min(batchSize, images.shape[0] - first)).to(ScalarType.Float32);
                if (x.shape[2] != s || x.shape[3] != s)
                    x = nn.functional.interpolate(x, [s, s], mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
                var (l, f) = judge.Classify(x);
                logits.Add(l.MoveToOuterDisposeScope());
                features.Add(f.MoveToOuterDisposeScope());
            }
            using var outer = NewDisposeScope();
            var allLogits = cat(logits, 0).MoveToOuterDisposeScope();
            var allFeatures = cat(features, 0).MoveToOuterDisposeScope();
            foreach (var t in logits.Concat(features)) t.Dispose();
            return (allLogits, allFeatures);
        }
        finally
        {
            if (wasTraining) judge.train();
        }
    }
}
