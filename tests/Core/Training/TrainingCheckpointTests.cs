using Latent.Core.IO;
using Latent.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Training;

[Collection(SerialTrainingCollection.Name)]
public class TrainingCheckpointTests
{
    const string Config = """{"trainer":"tiny","lr":0.01}""";

    static TrainingState StateOf(TinyRun run) => new()
    {
        Model = run.Model, Optimizer = run.Optimizer, Ema = run.Ema, Sampler = run.Sampler, Generators = run.Generators,
    };

    static void AssertBitEqual(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual, string what)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (key, t) in expected)
            Assert.True(t.eq(actual[key]).all().item<bool>(), $"{what} '{key}' differs");
    }

    [Fact]
    public void Resume_IsBitExact()
    {
        using var scope = NewDisposeScope();
        const int n = 12, k = 5;
        string dir = TestEnvironment.NewTempDir();

        // 1. N steps straight.
        using var straight = new TinyRun(initSeed: 1);
        var lossesStraight = Enumerable.Range(0, n).Select(_ => straight.Step()).ToList();

        // 2. K steps, save.
        string path;
        using (var first = new TinyRun(initSeed: 1))
        {
            for (int i = 0; i < k; i++) first.Step();
            path = new CheckpointDirectory(dir).Save(StateOf(first), first.StepIndex, Config);
        }

        // 3. Fresh objects made with other seeds (and the global RNG moved on), load, N - K more steps.
        using var resumed = new TinyRun(initSeed: 2, noiseSeed: 3);
        rand(100);
        var info = TrainingCheckpoint.Load(path, StateOf(resumed));
        Assert.Equal(k, info.Step);
        Assert.Equal(Config, info.ConfigJson);
        resumed.StepIndex = info.Step;
        var lossesResumed = Enumerable.Range(0, n - k).Select(_ => resumed.Step()).ToList();

        Assert.Equal(lossesStraight.Skip(k), lossesResumed);
        AssertBitEqual(straight.Model.state_dict(), resumed.Model.state_dict(), "weight");
        AssertBitEqual(straight.Ema.StateTensors(), resumed.Ema.StateTensors(), "EMA");
        AssertBitEqual(straight.Optimizer.StateTensors(), resumed.Optimizer.StateTensors(), "optimizer state");
        Assert.Equal(straight.Optimizer.StepCounts(), resumed.Optimizer.StepCounts());
        Assert.Equal(straight.Ema.OptimizationStep, resumed.Ema.OptimizationStep);
        Assert.Equal(straight.Sampler.State, resumed.Sampler.State);
        using var g1 = straight.Noise.get_state();
        using var g2 = resumed.Noise.get_state();
        Assert.True(g1.eq(g2).all().item<bool>());
    }

    [Fact]
    public void Save_WritesAllSections()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "c.safetensors");
        using var run = new TinyRun(initSeed: 1);
        run.Step();
        TrainingCheckpoint.Save(path, StateOf(run), 1, Config);
        var meta = SafeTensors.ReadMetadata(path);
        Assert.Equal(TrainingCheckpoint.Format, meta["format"]);
        Assert.Equal("1", meta["step"]);
        Assert.Equal(Config, meta["config"]);
        var tensors = SafeTensors.Load(path);
        try
        {
            Assert.Contains("model.conv_in.weight", tensors.Keys);
            Assert.Contains("ema.norm.weight", tensors.Keys);
            Assert.Contains("optim.conv_out.bias.exp_avg_sq", tensors.Keys);
            Assert.Contains("rng.torch", tensors.Keys);
            Assert.Contains("rng.generator.noise", tensors.Keys);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    [Fact]
    public void Load_ThrowsNamingKeys_ForAnotherModel_AndChangesNothing()
    {
        using var scope = NewDisposeScope();
        string path = Path.Combine(TestEnvironment.NewTempDir(), "c.safetensors");
        using (var run = new TinyRun(initSeed: 1)) TrainingCheckpoint.Save(path, StateOf(run), 0);
        using var wider = new TinyRun(initSeed: 2, channels: 12);
        using var before = wider.Model.state_dict()["conv_in.weight"].clone();
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, StateOf(wider)));
        Assert.Contains("conv_in.weight (saved Float32 [8, 3, 3, 3], expected Float32 [12, 3, 3, 3])", e.Message);
        Assert.Contains("does not match the model", e.Message);
        Assert.True(before.eq(wider.Model.state_dict()["conv_in.weight"]).all().item<bool>());
    }

    [Fact]
    public void Load_ThrowsNamingMissingAndUnexpectedKeys()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "c.safetensors");
        using var run = new TinyRun(initSeed: 1);
        TrainingCheckpoint.Save(path, StateOf(run), 0);
        var tensors = SafeTensors.Load(path);
        var meta = SafeTensors.ReadMetadata(path);
        tensors.Remove("model.norm.bias", out var removed);
        removed!.Dispose();
        tensors["model.extra.weight"] = zeros(2);
        SafeTensors.Save(path, tensors, meta);
        foreach (var t in tensors.Values) t.Dispose();
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, StateOf(run)));
        Assert.Contains("missing keys norm.bias", e.Message);
        Assert.Contains("unexpected keys extra.weight", e.Message);
    }

    [Fact]
    public void Load_ThrowsForMissingFile()
    {
        using var run = new TinyRun(initSeed: 1);
        string path = Path.Combine(TestEnvironment.NewTempDir(), "nope.safetensors");
        var e = Assert.Throws<FileNotFoundException>(() => TrainingCheckpoint.Load(path, StateOf(run)));
        Assert.Contains("nope.safetensors", e.Message);
    }

    [Fact]
    public void Load_ThrowsForCorruptFile()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "c.safetensors");
        using var run = new TinyRun(initSeed: 1);
        TrainingCheckpoint.Save(path, StateOf(run), 0);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);   // a torn write, as if AtomicFile were bypassed
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, StateOf(run)));
        Assert.Contains("cannot be read", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Load_ThrowsForSafetensorsThatIsNoCheckpoint()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "weights.safetensors");
        using var w = zeros(2);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = w });
        using var run = new TinyRun(initSeed: 1);
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, StateOf(run)));
        Assert.Contains("lacks metadata 'format'", e.Message);
    }

    [Fact]
    public void Directory_KeepsLastK_AndFindsLatest()
    {
        var dir = new CheckpointDirectory(TestEnvironment.NewTempDir(), keepLast: 2);
        Assert.Null(dir.Latest());
        using var run = new TinyRun(initSeed: 1);
        File.WriteAllText(Path.Combine(dir.Directory, ".checkpoint-000009.safetensors.1.x.tmp"), "torn");
        foreach (long step in new long[] { 100, 200, 300 }) dir.Save(StateOf(run), step);
        Assert.Equal([200L, 300L], dir.List().Select(c => c.Step));
        Assert.EndsWith("checkpoint-000300.safetensors", dir.Latest());
        Assert.Empty(Directory.GetFiles(dir.Directory, "*.tmp"));
        Assert.Equal(300, TrainingCheckpoint.ReadInfo(dir.Latest()!).Step);
        Assert.Equal(300, dir.LoadLatest(StateOf(run))!.Step);
    }

    [Fact]
    public void LatestReadable_SkipsATruncatedNewest_ForTheOlderKeptOne()
    {
        var dir = new CheckpointDirectory(TestEnvironment.NewTempDir(), keepLast: 2);
        Assert.Null(dir.LatestReadable().Path);
        using var run = new TinyRun(initSeed: 1);
        foreach (long step in new long[] { 100, 200 }) dir.Save(StateOf(run), step);
        string newest = dir.Latest()!;
        using (var f = new FileStream(newest, FileMode.Open)) f.SetLength(f.Length / 2); // cut short, as by a full disk

        var (path, skipped) = dir.LatestReadable();

        Assert.EndsWith("checkpoint-000100.safetensors", path);
        Assert.Contains(newest, Assert.Single(skipped));
    }

    [Fact]
    public void LatestReadable_Throws_WhenNoCheckpointReads()
    {
        var dir = new CheckpointDirectory(TestEnvironment.NewTempDir());
        File.WriteAllText(dir.PathFor(100), "not safetensors");
        var e = Assert.Throws<InvalidDataException>(() => dir.LatestReadable());
        Assert.Contains("checkpoint-000100.safetensors", e.Message);
    }
}
