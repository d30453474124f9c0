using Latent.Core.Engine;
using Latent.Judge;
using Latent.Pipeline.Guidance;
using Latent.Schedulers;
using TorchSharp;
using static Latent.Schedulers.Tests.SchedulerTestData;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Guidance;

[Collection(GlobalRng.Name)]
public class ClassifierGuidanceTests
{
    static NoisyLatentClassifier Tiny(int classes = 3, long seed = 11)
    {
        manual_seed(seed);
        var c = new NoisyLatentClassifier(NoisyLatentClassifierConfig.Tiny(classes));
        c.eval();
        foreach (var p in c.parameters()) p.requires_grad_(false);
        return c;
    }

    [Fact]
    public void Gradient_MatchesAFiniteDifference()
    {
        using var scope = NewDisposeScope();
        // d/dx_i sum_b log p(y_b | x_b): central differences in float64 against autograd, at every element of a 2 x 4 x 4 x 4 input
        using var classifier = Tiny();
        classifier.to(ScalarType.Float64);
        var guidance = new ClassifierGuidance(classifier, 1, [[0], [1, 2]]);
        using var g = new Generator(1);
        using var x = randn([2, 4, 4, 4], dtype: ScalarType.Float64, generator: g);
        using var grad = guidance.Gradient(x, 420);
        double[] analytic = grad.data<double>().ToArray();
        const double h = 1e-5;
        for (int i = 0; i < analytic.Length; i += 5)
        {
            using var step = zeros_like(x).reshape(-1);
            step[i] = h;
            using var delta = step.reshape(x.shape);
            using var plus = guidance.LogProbability(x.add(delta, Scalars.One), 420).sum();
            using var minus = guidance.LogProbability(x - delta, 420).sum();
            double numeric = (plus.item<double>() - minus.item<double>()) / (2 * h);
            Assert.Equal(numeric, analytic[i], 6);
        }
        Assert.True(analytic.Max(Math.Abs) > 1e-4);
    }

    [Fact]
    public void Apply_RaisesTheClassifiersProbabilityOfTheClass()
    {
        // One DDIM step from x_t with eps = 0, unguided and guided toward class 2: the guided x_{t'} is more class 2.
        using var classifier = Tiny();
        var ddim = new DdimScheduler(Sd(SchedulerConfig.DdimClassName) with { StepsOffset = 1 });
        ddim.SetTimesteps(20);
        using var g = new Generator(2);
        using var x = randn([4, 4, 4, 4], generator: g);
        using var eps = zeros_like(x);
        var guidance = new ClassifierGuidance(classifier, 2, Enumerable.Repeat<IReadOnlyCollection<int>>([2], 4).ToList());
        double t = ddim.Timesteps[10], next = ddim.Timesteps[11];
        using var guidedEps = guidance.Apply(eps, x, t, ddim.Schedule);
        using var plain = ddim.Step(eps, t, x);
        using var guided = ddim.Step(guidedEps, t, x);
        using var before = guidance.LogProbability(plain, next);
        using var after = guidance.LogProbability(guided, next);
        double[] b = before.data<float>().Select(v => (double)v).ToArray(), a = after.data<float>().Select(v => (double)v).ToArray();
        Assert.All(Enumerable.Range(0, 4), i => Assert.True(a[i] > b[i], $"image {i}: log p {b[i]:F4} -> {a[i]:F4}"));
    }

    [Fact]
    public void Apply_MovesOnlyTheMeanHalfOfALearnedVarianceOutput_AndScaleZeroIsOff()
    {
        using var scope = NewDisposeScope();
        using var classifier = Tiny();
        var schedule = new NoiseSchedule(Sd(SchedulerConfig.DdpmClassName));
        using var x = randn([1, 4, 4, 4]);
        using var output = zeros(1, 8, 4, 4);
        using var shifted = new ClassifierGuidance(classifier, 3, [[1]]).Apply(output, x, 500, schedule);
        var (eps, variance) = LearnedRange.Split(shifted);
        Assert.True(eps.abs().max().item<float>() > 0);
        Assert.Equal(0f, variance.abs().max().item<float>());
        using var off = new ClassifierGuidance(classifier, 0, [[1]]).Apply(output, x, 500, schedule);
        Assert.Equal(0f, off.abs().max().item<float>());
    }

    [Fact]
    public void Gradient_WorksInsideInferenceModeAndNoGrad()
    {
        // the evaluator generates under inference_mode, the pipeline under no_grad: the gradient must still come out
        using var classifier = Tiny();
        var guidance = new ClassifierGuidance(classifier, 1, [[0]]);
        using var reference = randn([1, 4, 4, 4]);
        using var expected = guidance.Gradient(reference, 300);
        using (inference_mode())
        using (no_grad())
        {
            using var x = reference.clone();
            using var grad = guidance.Gradient(x, 300);
            Assert.True(grad.allclose(expected));
        }
    }

    [Fact]
    public void EmptyClassSet_LeavesThatImageUnguided()
    {
        using var scope = NewDisposeScope();
        using var classifier = Tiny();
        var guidance = new ClassifierGuidance(classifier, 1, [[0], []]);
        using var x = randn([2, 4, 4, 4]);
        using var grad = guidance.Gradient(x, 100);
        Assert.True(grad[0].abs().max().item<float>() > 0);
        Assert.True(grad[1].abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void Constructor_ThrowsForANegativeScale()
    {
        using var classifier = Tiny();
        var e = Assert.Throws<ArgumentException>(() => new ClassifierGuidance(classifier, -1, [[0]]));
        Assert.Contains("classifier scale is -1", e.Message);
    }

    [Fact]
    public void Constructor_ThrowsForAClassOutOfRange()
    {
        using var classifier = Tiny(classes: 3);
        var e = Assert.Throws<ArgumentException>(() => new ClassifierGuidance(classifier, 1, [[3]]));
        Assert.Contains("class 3; expected one in [0, 3)", e.Message);
    }

    [Fact]
    public void Folder_RoundTripsAndResolvesClassesByCodeOrName()
    {
        using var classifier = Tiny(classes: 2);
        string dir = TestEnvironment.NewTempDir();
        JudgeClass[] classes = [new("1F431", "cat face"), new("2764", "red heart")];
        ClassifierFolder.Save(dir, classifier, classes);
        var (loaded, back) = ClassifierFolder.Load(dir);
        using (loaded)
        {
            using var x = randn([2, 4, 4, 4]);
            using var t = tensor(new long[] { 3, 900 });
            using var a = classifier.call(x, t);
            using var b = loaded.call(x, t);
            Assert.True(a.allclose(b));
            Assert.All(loaded.parameters(), p => Assert.False(p.requires_grad));
        }
        Assert.Equal(1, ClassifierFolder.ClassIndex(back, "red heart"));
        Assert.Equal(0, ClassifierFolder.ClassIndex(back, "1f431"));
        Assert.Equal(1, ClassifierFolder.ClassIndex(back, "2764-FE0F"));
        var e = Assert.Throws<ArgumentException>(() => ClassifierFolder.ClassIndex(back, "pizza"));
        Assert.Contains("--class 'pizza' is none of the classifier's 2 classes", e.Message);
        var missing = Assert.Throws<FileNotFoundException>(() => ClassifierFolder.Load(TestEnvironment.NewTempDir()));
        Assert.Contains("has no config.json", missing.Message);
    }
}
