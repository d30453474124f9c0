using Latent.Core.Data;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using Latent.Training.UNet;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.Tests.UNet;

/// <summary>
/// Runs the trainer tests alone: the trainer seeds torch's global generator before it builds the weights, and another
/// test class drawing from it at the same time (xunit runs classes in parallel) would change them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTrainingCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Latent.Training.Tests.UNet serial";
}

/// <summary>
/// A toy text-to-image world: four solid-colour 16x16 images captioned "red", "green", "blue", "yellow", a Tiny VAE with
/// random but fixed weights (its posterior made tight, its scaling factor measured), a Tiny random CLIP text encoder and a
/// BPE tokenizer learnt from the captions.
/// </summary>
internal sealed class ToyWorld : IDisposable
{
    public static readonly string[] Colours = ["red", "green", "blue", "yellow"];
    static readonly float[][] Rgb = [[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]];

    public readonly string DataDir;
    public readonly ImageFolderDataset Data;
    public readonly AutoencoderKL Vae;
    public readonly ClipTextModel TextEncoder;
    public readonly ClipTokenizer Tokenizer;

    /// <param name="vaeSeed">Seeds the VAE's random weights.</param>
    /// <param name="textSeed">Seeds the text encoder's random weights.</param>
    public ToyWorld(ulong vaeSeed = 3, ulong textSeed = 4)
    {
        DataDir = WriteImages();
        Data = ImageFolderDataset.Read(DataDir);
        Vae = TightVae(vaeSeed, Data);
        manual_seed((long)textSeed);
        TextEncoder = new ClipTextModel(ClipTextConfig.Tiny);
        TextEncoder.eval();
        using (no_grad())   // token embeddings 20x the position embeddings: the captions' states differ clearly
            TextEncoder.named_parameters().Single(np => np.name == "text_model.embeddings.token_embedding.weight").parameter
                .mul_(Scalars.Of(20));
        Tokenizer = ClipBpeTrainer.Train(Colours, ClipBpeTrainerOptions.Tiny);
    }

    /// <summary>The U-Net for this world: Tiny, with the text encoder's width.</summary>
    public static UNetConfig UNet => UNetConfig.Tiny with { CrossAttentionDim = ClipTextConfig.Tiny.HiddenSize };

    /// <summary>A U-Net trainer of this world (the Tiny U-Net unless <paramref name="unet"/>), in a new run folder unless
    /// <paramref name="outDir"/>.</summary>
    public UNetTrainer Trainer(LatentCache cache, UNetTrainingConfig config, string? outDir = null, UNetConfig? unet = null) =>
        new(unet ?? UNet, config, cache, Vae, TextEncoder, Tokenizer, outDir ?? TestEnvironment.NewTempDir());

    /// <summary>
    /// Trains <paramref name="config"/>'s run twice: straight through, and stopped after <paramref name="k"/> steps, then
    /// resumed by a new trainer on the same run folder (a killed run continued with --resume).
    /// </summary>
    public StraightAndResumedRuns StraightAndResumed(LatentCache cache, UNetTrainingConfig config, long k)
    {
        var straight = Trainer(cache, config);
        var straightResult = straight.Run();

        string resumedDir = TestEnvironment.NewTempDir();
        using (var first = Trainer(cache, config, resumedDir))
            Assert.Equal(k, first.Run(stopAfterStep: k).Step);
        var resumed = Trainer(cache, config, resumedDir);
        Assert.Equal(k, resumed.Resume());
        return new StraightAndResumedRuns(straight, straightResult, resumed, resumed.Run());
    }

    /// <summary>Whether two tensors have the same shape and the same values, bit for bit.</summary>
    /// <remarks>In a dispose scope: the chain's temporaries are freed here, not by a finaliser in the middle of a native call.</remarks>
    public static bool BitEqual(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
    }

    public LatentCache Cache(string dir) =>
        LatentCache.Build(dir, Data, new ImageSize(16, 16), Vae, TextEncoder, Tokenizer, batchSize: 3);

    public static string WriteImages()
    {
        string dir = TestEnvironment.NewTempDir();
        var lines = new List<string>();
        for (int i = 0; i < Colours.Length; i++)
        {
            using var image = SolidImage(i);
            ImageIO.SavePng(image, Path.Combine(dir, $"{Colours[i]}.png"));
            lines.Add($"{{\"file_name\": \"{Colours[i]}.png\", \"text\": \"{Colours[i]}\"}}");
        }
        File.WriteAllLines(Path.Combine(dir, ImageFolderDataset.MetadataFile), lines);
        return dir;
    }

    /// <summary>[3, 16, 16] of colour <paramref name="i"/>, in [-1, 1].</summary>
    /// <remarks>
    /// Built in a dispose scope of its own: callers use it outside one, and a chained temporary that nothing holds is
    /// finalised while libtorch reads it (src/Core/Engine/Scalars.cs, "Tensors"). This line without the scope crashed the
    /// Training test host in native code under GC stress.
    /// </remarks>
    public static Tensor SolidImage(int i)
    {
        using var scope = NewDisposeScope();
        return tensor(Rgb[i]).reshape(3, 1, 1).expand(3, 16, 16).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A Tiny VAE with random weights whose posterior is nearly a point (log-variance −12 everywhere, so a posterior sample
    /// is its mean) and whose scaling factor makes the four latents unit-scale, as a trained VAE's would be.
    /// </summary>
    static AutoencoderKL TightVae(ulong seed, ImageFolderDataset data)
    {
        manual_seed((long)seed);
        var vae = new AutoencoderKL(VaeConfig.Tiny);
        vae.eval();
        var p = vae.named_parameters().ToDictionary(np => np.name, np => np.parameter);
        int latent = VaeConfig.Tiny.LatentChannels;
        using (NewDisposeScope())
        using (no_grad())
        {
            p["quant_conv.weight"][latent..].zero_();
            p["quant_conv.bias"][latent..].fill_(Scalars.Of(-12.0));
        }
        double std;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var images = stack(Enumerable.Range(0, data.Count).Select(i => data.LoadImage(i, new ImageSize(16, 16))).ToList(), 0);
            using var posterior = vae.Encode(images);
            std = posterior.Mean.std().item<float>();
        }
        var scaled = new AutoencoderKL(VaeConfig.Tiny with { ScalingFactor = 1.0 / std });
        using (no_grad())
        {
            var source = vae.state_dict();
            foreach (var (key, t) in scaled.state_dict()) t.copy_(source[key]);
        }
        vae.Dispose();
        scaled.eval();
        return scaled;
    }

    /// <summary>The images the VAE gives back for each colour: decode(mean), [4, 3, 16, 16].</summary>
    public Tensor References()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var images = stack(Enumerable.Range(0, Colours.Length).Select(SolidImage).ToList(), 0);
        using var posterior = Vae.Encode(images);
        return Vae.Decode(posterior.Mean).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Vae.Dispose();
        TextEncoder.Dispose();
    }
}

/// <summary>The two runs of <see cref="ToyWorld.StraightAndResumed"/>; disposing it disposes both trainers.</summary>
internal sealed record StraightAndResumedRuns(UNetTrainer Straight, UNetTrainingResult StraightResult, UNetTrainer Resumed, UNetTrainingResult ResumedResult)
    : IDisposable
{
    /// <summary>Both runs completed with the same last loss and bit-identical weights and EMA.</summary>
    public void AssertSameEnd()
    {
        Assert.True(StraightResult.Completed && ResumedResult.Completed);
        Assert.Equal(StraightResult.LastLoss, ResumedResult.LastLoss);
        var a = Straight.Model.state_dict();
        var b = Resumed.Model.state_dict();
        Assert.All(a.Keys, key => Assert.True(ToyWorld.BitEqual(a[key], b[key]), $"weight {key} differs"));
        var ea = Straight.Ema.StateTensors();
        var eb = Resumed.Ema.StateTensors();
        Assert.All(ea.Keys, key => Assert.True(ToyWorld.BitEqual(ea[key], eb[key]), $"EMA {key} differs"));
    }

    public void Dispose()
    {
        Straight.Dispose();
        Resumed.Dispose();
    }
}
