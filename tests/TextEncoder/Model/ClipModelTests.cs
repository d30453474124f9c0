using Latent.Core.Engine;
using Latent.Core.Training;
using Latent.TextEncoder;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Tests.Model;

[Collection(Latent.Tests.GlobalRng.Name)]
public class ClipModelTests(ITestOutputHelper output)
{
    [Fact]
    public void ContrastiveLoss_MatchesHandComputation3x3()
    {
        // image = e1, e2, e3; text = e1, e2, (e1 + e3)/sqrt 2 (given unnormalised: scaled by 3, 0.5, 1); s = 2.
        using var image = eye(3, dtype: ScalarType.Float64);
        using var text = tensor(new double[,] { { 3, 0, 0 }, { 0, 0.5, 0 }, { 1, 0, 1 } });
        using var scale = tensor(2.0, dtype: ScalarType.Float64);
        using var loss = ClipModel.ContrastiveLoss(image, text, scale);

        double r2 = Math.Sqrt(2);
        // Rows of logits_per_text (text i against every image), labels i.
        double t0 = Math.Log(1 + 2 * Math.Exp(-2));              // [2, 0, 0]
        double t1 = Math.Log(1 + 2 * Math.Exp(-2));              // [0, 2, 0]
        double t2 = Math.Log(2 + Math.Exp(-r2));                 // [r2, 0, r2], label 2
        // Rows of logits_per_image (the transpose), labels i.
        double i0 = Math.Log(1 + Math.Exp(-2) + Math.Exp(r2 - 2)); // [2, 0, r2]
        double i1 = Math.Log(1 + 2 * Math.Exp(-2));              // [0, 2, 0]
        double i2 = Math.Log(1 + 2 * Math.Exp(-r2));             // [0, 0, r2]
        double expected = ((t0 + t1 + t2) / 3 + (i0 + i1 + i2) / 3) / 2;
        Assert.Equal(expected, loss.item<double>(), 12);
    }

    [Fact]
    public void ContrastiveLoss_MismatchedShapes_Throws()
    {
        using var image = zeros(3, 4);
        using var text = zeros(2, 4);
        using var scale = tensor(1f);
        var e = Assert.Throws<ArgumentException>(() => ClipModel.ContrastiveLoss(image, text, scale));
        Assert.Contains("[3, 4]", e.Message);
        Assert.Contains("[2, 4]", e.Message);
    }

    [Fact]
    public void ContrastiveLoss_NonScalarScale_Throws()
    {
        using var image = zeros(3, 4);
        using var text = zeros(3, 4);
        using var scale = ones(3);
        var e = Assert.Throws<ArgumentException>(() => ClipModel.ContrastiveLoss(image, text, scale));
        Assert.Contains("[3]", e.Message);
    }

    [Fact]
    public void NewModel_HasClipKeysAndLogitScale()
    {
        torch.manual_seed(0);
        using var model = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny);
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Contains("text_model.encoder.layers.0.self_attn.q_proj.weight", keys);
        Assert.Contains("vision_model.conv_in.weight", keys);
        Assert.Contains("vision_model.down_blocks.0.downsamplers.0.weight", keys);
        Assert.Contains("vision_model.down_blocks.1.resnets.0.conv_shortcut.weight", keys);
        Assert.Contains("text_projection.weight", keys);
        Assert.Contains("visual_projection.weight", keys);
        Assert.DoesNotContain("text_projection.bias", keys);
        Assert.DoesNotContain("visual_projection.bias", keys);
        Assert.Equal(Math.Log(1 / 0.07), model.LogitScale.item<float>(), 5);
        Assert.Empty(model.LogitScale.shape);
        // The shared text model has exactly the text_model.* keys of the CLIP model.
        using var text = model.CreateTextModel();
        Assert.Equal(keys.Where(k => k.StartsWith("text_model.", StringComparison.Ordinal)).Order(), text.state_dict().Keys.Order());
    }

    [Fact]
    public void EncodeImage_ReturnsProjectionShape_AndTowerGroupNormIsInitialised()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(0);
        using var model = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny);
        using var pixels = TestTensors.UniformPixels([3, 3, 16, 16]);
        using var embeds = model.EncodeImage(pixels);
        Assert.Equal(new long[] { 3, 32 }, embeds.shape);
        Assert.False(embeds.isnan().any().item<bool>());
        using var norm = model.state_dict()["vision_model.norm_out.weight"];
        Assert.True(norm.eq(Scalars.Of(1.0)).all().item<bool>());
    }

    [Fact]
    public void EncodeImage_WrongSize_Throws()
    {
        using var model = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny);
        using var pixels = zeros(1, 3, 32, 32);
        var e = Assert.Throws<ArgumentException>(() => model.EncodeImage(pixels));
        Assert.Contains("[1, 3, 32, 32]", e.Message);
        Assert.Contains("16", e.Message);
    }

    [Fact]
    public void ImageTowerConfig_GroupsNotDividingChannels_Throws()
    {
        var config = ClipImageTowerConfig.Tiny with { BlockOutChannels = [8, 18] };
        var e = Assert.Throws<ArgumentException>(() => new ClipImageTower(config));
        Assert.Contains("18", e.Message);
    }

    [Fact]
    public void ImageTowerConfig_SizeNotDivisible_Throws()
    {
        var config = ClipImageTowerConfig.Tiny with { ImageSize = 15 };
        var e = Assert.Throws<ArgumentException>(() => new ClipImageTower(config));
        Assert.Contains("15", e.Message);
    }

    [Fact]
    public void DefaultImageTower_Maps64pxToWidth256()
    {
        ClipImageTowerConfig.Default.Validate();
        Assert.Equal(256, ClipImageTowerConfig.Default.HiddenSize);
        Assert.Equal(64, ClipImageTowerConfig.Default.ImageSize);
        Assert.Equal(2, ClipImageTowerConfig.Default.ConvInStride);
    }

    [Fact]
    public void ImageTower_StrideTwoConvIn_HalvesTheFirstStage_AndChecksTheSize()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var config = ClipImageTowerConfig.Tiny with { ConvInStride = 2 };
        using var tower = new ClipImageTower(config);
        using var pixels = TestTensors.UniformPixels([3, 3, 16, 16]);
        using var pooled = tower.forward(pixels);
        Assert.Equal(new long[] { 3, 16 }, pooled.shape);
        Assert.Equal(new long[] { 8, 3, 3, 3 }, tower.state_dict()["conv_in.weight"].shape);

        // 2 (conv_in) x 2 (one downsampler) = 4 must divide the size; 3 is no stride we build.
        var e = Assert.Throws<ArgumentException>(() => new ClipImageTower(config with { ImageSize = 18 }));
        Assert.Contains("multiple of 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => new ClipImageTower(config with { ConvInStride = 3 }));
        Assert.Contains("ConvInStride is 3", e.Message);
    }

    [Fact]
    public void Training_FewAdamWSteps_DriveLossDown()
    {
        using var testScope = NewDisposeScope();
        torch.manual_seed(1234);
        using var model = new ClipModel(ClipTextConfig.Tiny, ClipImageTowerConfig.Tiny);
        model.train();
        var generator = new Generator(7);
        using var pixels = TestTensors.UniformPixels([4, 3, 16, 16], generator);
        using var words = randint(1, 900, new long[] { 4, 6 }, generator: generator);
        var bos = Scalars.Of(998L);   // ClipTextConfig.Tiny's BosTokenId
        var eos = Scalars.Of(999L);   // its EosTokenId, also its PadTokenId
        using var ids = cat([full(4, 1, bos), words, full(4, 3, eos)], 1);   // [4, 10]: bos, 6 words, eos, pad
        using var optimizer = new AdamWOptimizer(model.named_parameters(), new AdamWConfig(LearningRate: 3e-3, WeightDecay: 0));

        float first = 0, last = 0;
        for (int step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            var loss = model.forward(ids, pixels);
            loss.backward();
            optimizer.Step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        output.WriteLine($"contrastive loss over 20 AdamW steps: {first:F4} -> {last:F4} (log 4 = {Math.Log(4):F4})");
        Assert.InRange(first, 0.5 * Math.Log(4), 3 * Math.Log(4));
        Assert.True(last < 0.5 * first, $"loss went from {first} to {last}");
    }
}
