using System.Text.Json.Nodes;
using Latent.Core.Training;
using Latent.Training.TextEncoder;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Latent.TextEncoder;

namespace Latent.Training.Tests.TextEncoder;

[Collection(SerialTrainerCollection.Name)]
public sealed class ClipTrainerTests(ITestOutputHelper output)
{
    sealed class Collect(List<TrainingProgress<ClipStepLosses>> reports) : IProgress<TrainingProgress<ClipStepLosses>>
    {
        public void Report(TrainingProgress<ClipStepLosses> value) => reports.Add(value);
    }

    [Fact]
    public void TrainStep_OverfitsOneBatch_LossFalls()
    {
        string folder = TestClipFolder.Create(emoji: 4);
        var train = TestClipFolder.Read(folder);
        var tokenizer = TestClipFolder.Tokenizer(train);
        var config = ClipTrainingConfig.Tiny with { Steps = 40, WarmupSteps = 0, BatchSize = 4 };
        using var trainer = new ClipTrainer(TestClipFolder.TextConfig(tokenizer), ClipImageTowerConfig.Tiny, config, tokenizer, train, null,
            TestEnvironment.NewTempDir());
        var steps = Enumerable.Range(0, 40).Select(_ => trainer.TrainStep()).ToList();
        output.WriteLine($"loss: first {steps[0].Loss:F4}, last {steps[^1].Loss:F4}; batch accuracy last {steps[^1].BatchAccuracy:F2}");
        Assert.All(steps, s => Assert.True(double.IsFinite(s.Loss)));
        Assert.True(steps.TakeLast(5).Average(s => s.Loss) < 0.5 * steps.Take(5).Average(s => s.Loss),
            $"loss did not fall enough: {string.Join(", ", steps.Select(s => s.Loss.ToString("F3")))}");
        Assert.Equal(1.0, steps[^1].BatchAccuracy);
    }

    [Fact]
    public void TrainStep_SameEmojiInBatch_IsMasked_AndLogitScaleIsClamped()
    {
        // Two renderings of each of 2 emoji and batch 4: every batch holds both renderings of both emoji.
        string folder = TestClipFolder.Create(emoji: 2, renderings: 2);
        var train = TestClipFolder.Read(folder);
        var tokenizer = TestClipFolder.Tokenizer(train);
        var config = ClipTrainingConfig.Tiny with { Steps = 3, BatchSize = 4, MaxLogitScale = 1.0 };
        using var trainer = new ClipTrainer(TestClipFolder.TextConfig(tokenizer), ClipImageTowerConfig.Tiny, config, tokenizer, train, null,
            TestEnvironment.NewTempDir());
        var step = trainer.TrainStep();
        Assert.Equal(4, step.MaskedPairs);                          // (0,1), (1,0), (2,3), (3,2)
        Assert.True(double.IsFinite(step.Loss));
        Assert.Equal(Math.E, step.LogitScale, 5);                   // ln(1/0.07) = 2.66 clamped to 1
    }

    [Fact]
    public void Resume_IsBitExact()
    {
        string folder = TestClipFolder.Create(emoji: 5, renderings: 2, validation: 3);
        var train = TestClipFolder.Read(folder);
        var validation = TestClipFolder.Read(folder, "validation");
        var tokenizer = TestClipFolder.Tokenizer(train);
        var text = TestClipFolder.TextConfig(tokenizer);
        var config = ClipTrainingConfig.Tiny;
        const int k = 3;

        var straightReports = new List<TrainingProgress<ClipStepLosses>>();
        using var straight = new ClipTrainer(text, ClipImageTowerConfig.Tiny, config, tokenizer, train, validation, TestEnvironment.NewTempDir());
        var straightResult = straight.Run(new Collect(straightReports));

        string resumedDir = TestEnvironment.NewTempDir();
        using (var first = new ClipTrainer(text, ClipImageTowerConfig.Tiny, config, tokenizer, train, validation, resumedDir))
            Assert.Equal(k, first.Run(stopAfterStep: k).Step);
        var resumedReports = new List<TrainingProgress<ClipStepLosses>>();
        using var resumed = new ClipTrainer(text, ClipImageTowerConfig.Tiny, config, tokenizer, train, validation, resumedDir);
        Assert.Equal(k, resumed.Resume());
        var resumedResult = resumed.Run(new Collect(resumedReports));

        static List<ClipStepLosses> Steps(List<TrainingProgress<ClipStepLosses>> r) =>
            r.Where(p => p.Phase == TrainingPhase.Training).Select(p => p.Last!).ToList();
        Assert.Equal(config.Steps - k, Steps(resumedReports).Count);
        Assert.Equal(Steps(straightReports).Skip(k), Steps(resumedReports));
        AssertSameTensors(straight.Model.state_dict(), resumed.Model.state_dict());
        AssertSameTensors(straight.Ema.StateTensors(), resumed.Ema.StateTensors());
        Assert.Equal(straightResult.Validation, resumedResult.Validation);
    }

    [Fact]
    public void Run_Completed_ExportsEmaModel_TokenizerAndLogs()
    {
        string folder = TestClipFolder.Create(emoji: 4, renderings: 2, validation: 2);
        var train = TestClipFolder.Read(folder);
        var validation = TestClipFolder.Read(folder, "validation");
        var tokenizer = TestClipFolder.Tokenizer(train);
        string outDir = TestEnvironment.NewTempDir();
        using var trainer = new ClipTrainer(TestClipFolder.TextConfig(tokenizer), ClipImageTowerConfig.Tiny, ClipTrainingConfig.Tiny, tokenizer,
            train, validation, outDir);
        var result = trainer.Run();

        Assert.True(result.Completed);
        Assert.Equal(2, result.Validation!.Pairs);
        foreach (string file in new[] { "text_encoder/config.json", "text_encoder/model.safetensors", "image_encoder/config.json",
                     "image_encoder/model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt", "eval.json", "log.jsonl", "loss.png" })
            Assert.True(File.Exists(Path.Combine(outDir, file)), $"missing {file}");
        using var loaded = ClipModelFolder.Load(outDir);
        using (trainer.Ema.SwapIntoModel())
            AssertSameTensors(trainer.Model.state_dict(), loaded.state_dict());
        var log = new ClipTrainingLog(outDir).Read();
        Assert.Equal(ClipTrainingConfig.Tiny.Steps, log.Count(e => e.ContainsKey("loss")));
        Assert.Equal(3, log.Count(e => e.ContainsKey("val_t2i_r1")));   // steps 2, 4, 6
        var eval = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "eval.json")))!;
        Assert.Equal(2, (int)eval["pairs"]!);
    }

    [Fact]
    public void InitFrom_StartsFromTheFoldersClip_AndRefusesAnotherArchitecture()
    {
        using var scope = NewDisposeScope();
        string folder = TestClipFolder.Create(emoji: 2);
        var train = TestClipFolder.Read(folder);
        var tokenizer = TestClipFolder.Tokenizer(train);
        var text = TestClipFolder.TextConfig(tokenizer);
        string source = TestEnvironment.NewTempDir();
        manual_seed(123);
        using (var pretrained = new ClipModel(text, ClipImageTowerConfig.Tiny)) ClipModelFolder.Save(pretrained, source);
        using var expected = ClipModelFolder.Load(source);

        var config = ClipTrainingConfig.Tiny with { InitFrom = source, Seed = 7 };
        using (var trainer = new ClipTrainer(text, ClipImageTowerConfig.Tiny, config, tokenizer, train, null, TestEnvironment.NewTempDir()))
            AssertSameTensors(expected.state_dict(), trainer.Model.state_dict());   // both towers and logit_scale
        using (var fresh = new ClipTrainer(text, ClipImageTowerConfig.Tiny, config with { InitFrom = null }, tokenizer, train, null, TestEnvironment.NewTempDir()))
            Assert.False(fresh.Model.state_dict()["visual_projection.weight"].equal(expected.state_dict()["visual_projection.weight"]).all().item<bool>());

        var wider = text with { IntermediateSize = text.IntermediateSize * 2 };
        var e = Assert.Throws<ArgumentException>(() => new ClipTrainer(wider, ClipImageTowerConfig.Tiny, config, tokenizer, train, null, TestEnvironment.NewTempDir()));
        Assert.Contains("another architecture", e.Message);
        Assert.Contains("mlp.fc1.weight", e.Message);
        var otherEps = text with { LayerNormEps = 1e-3 };
        var eps = Assert.Throws<ArgumentException>(() => new ClipTrainer(otherEps, ClipImageTowerConfig.Tiny, config, tokenizer, train, null, TestEnvironment.NewTempDir()));
        Assert.Contains("layer_norm_eps", eps.Message);
        var missing = Assert.Throws<FileNotFoundException>(() =>
            new ClipTrainer(text, ClipImageTowerConfig.Tiny, config with { InitFrom = TestEnvironment.NewTempDir() }, tokenizer, train, null, TestEnvironment.NewTempDir()));
        Assert.Contains("is not a CLIP folder", missing.Message);
    }

    [Fact]
    public void Run_NonFiniteGradientEveryStep_StopsAfterThreeSkipsNamingTheStepAndFirstParameter()
    {
        string folder = TestClipFolder.Create(emoji: 4);
        var train = TestClipFolder.Read(folder);
        var tokenizer = TestClipFolder.Tokenizer(train);
        string outDir = TestEnvironment.NewTempDir();
        var config = ClipTrainingConfig.Tiny with { BatchSize = 4, EvalInterval = 0, CheckpointInterval = 0 };
        using var trainer = new ClipTrainer(TestClipFolder.TextConfig(tokenizer), ClipImageTowerConfig.Tiny, config, tokenizer, train, null, outDir);
        using (no_grad())
        {
            // NaN temperature: the loss and every gradient are NaN.
            using var nan = float.NaN.ToScalar();
            trainer.Model.named_parameters().Single(p => p.name == "logit_scale").parameter.fill_(nan);
        }
        var reports = new List<TrainingProgress<ClipStepLosses>>();

        var e = Assert.Throws<Latent.Core.Training.NonFiniteGradientException>(() => trainer.Run(new Collect(reports)));

        Assert.Equal(4, e.Step);
        Assert.Equal(trainer.Model.named_parameters().First().name, e.FirstParameter);
        Assert.Contains("training stopped at step 4", e.Message);
        Assert.Equal([1L, 2L, 3L], reports.Select(r => r.SkippedSteps));
        Assert.All(reports, r => Assert.True(r.Last!.Skipped));
        Assert.Equal(4, new ClipTrainingLog(outDir).Read().Count(l => l["skipped_step"] is not null));
    }

    [Fact]
    public void Constructor_EosIdDiffersFromTokenizer_Throws()
    {
        string folder = TestClipFolder.Create(emoji: 2);
        var train = TestClipFolder.Read(folder);
        var tokenizer = TestClipFolder.Tokenizer(train);
        var text = TestClipFolder.TextConfig(tokenizer) with { EosTokenId = tokenizer.EosId - 1 };
        var e = Assert.Throws<ArgumentException>(() =>
            new ClipTrainer(text, ClipImageTowerConfig.Tiny, ClipTrainingConfig.Tiny, tokenizer, train, null, TestEnvironment.NewTempDir()));
        Assert.Contains($"eos id is {tokenizer.EosId}", e.Message);
        Assert.Contains($"eos_token_id is {tokenizer.EosId - 1}", e.Message);
    }

    internal static void AssertSameTensors(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(expected.Keys.OrderBy(k => k), actual.Keys.OrderBy(k => k));
        foreach (var (key, tensor) in expected)
            Assert.True(tensor.equal(actual[key]).all().item<bool>(), $"'{key}' differs");
    }
}
