using Latent.Core.Engine;
using static TorchSharp.torch;

namespace Latent.Judge.Tests;

public class EmojiJudgeTests
{
    public EmojiJudgeTests() => TestEnvironment.Init();

    static EmojiJudge Tiny(int classes = 5, long seed = 1)
    {
        manual_seed(seed);
        return new EmojiJudge(JudgeConfig.Tiny(classes));
    }

    [Fact]
    public void Classify_GivesLogitsAndFeatures()
    {
        using var scope = NewDisposeScope();
        using var judge = Tiny();
        using var x = rand([3, 3, 16, 16], generator: new Generator(2)).mul(Scalars.Of(2.0)).sub(Scalars.One);
        var (logits, features) = judge.Classify(x);
        using (logits)
        using (features)
        {
            Assert.Equal(new long[] { 3, 5 }, logits.shape);
            Assert.Equal(new long[] { 3, 16 }, features.shape);
            Assert.True(logits.isfinite().all().item<bool>());
        }
    }

    [Fact]
    public void DefaultConfig_IsAFewMegabytesInFloat16()
    {
        var config = new JudgeConfig { ClassName = JudgeConfig.ClassNameValue, NumClasses = 2477 };
        using var judge = new EmojiJudge(config);
        long parameters = judge.parameters().Sum(p => p.numel());
        Assert.InRange(parameters * 2, 1_000_000, 6_000_000);
        using var x = zeros(1, 3, 64, 64);
        using var logits = judge.forward(x);
        Assert.Equal(new long[] { 1, 2477 }, logits.shape);
        Assert.Equal(192, config.FeatureSize);
    }

    [Fact]
    public void Classify_ThrowsForWrongSize()
    {
        using var judge = Tiny();
        using var x = zeros(1, 3, 32, 32);
        var e = Assert.Throws<ArgumentException>(() => judge.Classify(x));
        Assert.Contains("[B, 3, 16, 16]", e.Message);
    }

    [Fact]
    public void Config_ThrowsForChannelsNotDivisibleByGroups()
    {
        var e = Assert.Throws<ArgumentException>(() => (JudgeConfig.Tiny(3) with { BlockOutChannels = [6, 16] }).Validate());
        Assert.Contains("norm_num_groups", e.Message);
    }

    [Fact]
    public void SaveLoad_Float32_RoundTripsOutputsExactly()
    {
        using var scope = NewDisposeScope();
        using var judge = Tiny();
        judge.eval();
        var classes = Enumerable.Range(0, 5).Select(i => new JudgeClass($"1F43{i}", $"animal {i}")).ToList();
        string dir = TestEnvironment.NewTempDir();
        JudgeFolder.Save(dir, judge, classes, ScalarType.Float32);
        var (loaded, loadedClasses) = JudgeFolder.Load(dir);
        using (loaded)
        {
            Assert.Equal(classes, loadedClasses);
            using var x = rand([2, 3, 16, 16], generator: new Generator(3));
            using var a = judge.forward(x);
            using var b = loaded.forward(x);
            Assert.True(a.equal(b).all().item<bool>());
        }
    }

    [Fact]
    public void SaveLoad_Float16_IsCloseAndHalfTheSize()
    {
        using var judge = Tiny();
        judge.eval();
        var classes = Enumerable.Range(0, 5).Select(i => new JudgeClass($"{i + 1:X4}", "")).ToList();
        string dir = TestEnvironment.NewTempDir();
        JudgeFolder.Save(dir, judge, classes);
        var (loaded, _) = JudgeFolder.Load(dir);
        using (loaded)
        {
            using var x = rand([2, 3, 16, 16], generator: new Generator(3));
            using var a = judge.forward(x);
            using var b = loaded.forward(x);
            Assert.True(a.allclose(b, rtol: 1e-2, atol: 1e-2));
        }
    }

    [Fact]
    public void Load_ThrowsWhenClassCountDisagrees()
    {
        using var judge = Tiny();
        string dir = TestEnvironment.NewTempDir();
        JudgeFolder.Save(dir, judge, Enumerable.Range(0, 5).Select(i => new JudgeClass($"{i + 1:X4}", "")).ToList());
        File.WriteAllText(Path.Combine(dir, JudgeFolder.ClassesFileName), "[{\"code\": \"1F431\", \"name\": \"cat face\"}]");
        var e = Assert.Throws<InvalidDataException>(() => JudgeFolder.Load(dir));
        Assert.Contains("num_classes 5", e.Message);
    }

    [Fact]
    public void Load_ThrowsForMissingWeights()
    {
        using var judge = Tiny();
        string dir = TestEnvironment.NewTempDir();
        JudgeFolder.Save(dir, judge, Enumerable.Range(0, 5).Select(i => new JudgeClass($"{i + 1:X4}", "")).ToList());
        File.Delete(Path.Combine(dir, JudgeFolder.WeightsFileName));
        var e = Assert.Throws<FileNotFoundException>(() => JudgeFolder.Load(dir));
        Assert.Contains(JudgeFolder.WeightsFileName, e.Message);
    }

    [Fact]
    public void ReadClasses_ThrowsForRepeatedCode()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "classes.json");
        File.WriteAllText(path, "[{\"code\": \"1F431\"}, {\"code\": \"1F431\"}]");
        var e = Assert.Throws<InvalidDataException>(() => JudgeFolder.ReadClasses(path));
        Assert.Contains("entry 1 repeats code 1F431", e.Message);
    }

    [Fact]
    public void OverfitOneBatch_LossFalls()
    {
        using var testScope = NewDisposeScope();
        using var judge = Tiny(classes: 4);
        judge.train();
        using var x = rand([8, 3, 16, 16], generator: new Generator(5)).mul(Scalars.Of(2.0)).sub(Scalars.One);
        using var y = tensor(new long[] { 0, 1, 2, 3, 0, 1, 2, 3 });
        using var optimizer = new Core.Training.AdamWOptimizer(judge.named_parameters(), new Core.Training.AdamWConfig(1e-2));
        double first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            var loss = nn.functional.cross_entropy(judge.forward(x), y);
            loss.backward();
            optimizer.Step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < 0.1 * first, $"loss {first} -> {last}");
    }
}
