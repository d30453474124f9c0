using Latent.Pipeline.Performance;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.Pipeline.Tests.Performance;

/// <summary>The FLOP counter: hand counts for one block of each kind, and a walk that covers every conv and linear weight of the real modules.</summary>
public class ModelFlopsTests(ITestOutputHelper output)
{
    [Fact]
    public void Resnet_MatchesHandCount()
    {
        // [2, 64, 16, 16] -> 128 channels with a 256-wide time embedding:
        // conv1 2*2*16*16*128*64*9 = 75,497,472; time_emb_proj 2*2*256*128 = 131,072;
        // conv2 2*2*16*16*128*128*9 = 150,994,944; conv_shortcut 2*2*16*16*128*64 = 8,388,608.
        var t = new FlopTally();
        ModelFlops.Resnet(t, batch: 2, inChannels: 64, outChannels: 128, temb: 256, h: 16, w: 16);
        Assert.Equal(75_497_472d + 131_072 + 150_994_944 + 8_388_608, t.Flops);
        Assert.Equal(64 * 128 * 9 + 128 + 256 * 128 + 128 + 128 * 128 * 9 + 128 + 64 * 128 + 128, t.LayerParameters);
    }

    [Fact]
    public void TransformerBlock_MatchesHandCount()
    {
        // B = 2, N = 64 positions, C = 64, text T = 7 tokens of D = 32:
        // attn1: q, k, v 3 * 2*128*64*64 = 3,145,728; Q K^T and P V 2*2*2*64*64*64 = 2,097,152; to_out 1,048,576;
        // attn2: to_q 1,048,576; to_k, to_v 2 * 2*14*32*64 = 114,688; products 2*2*2*64*7*64 = 229,376; to_out 1,048,576;
        // ff: GEGLU proj 2*128*64*512 = 8,388,608; net.2 2*128*256*64 = 4,194,304.
        var t = new FlopTally();
        ModelFlops.TransformerBlock(t, batch: 2, n: 64, dim: 64, contextDim: 32, onlyCross: false, new ModelFlops.TextShape(7, KeyValues: true));
        Assert.Equal(3_145_728d + 2_097_152 + 1_048_576 + 1_048_576 + 114_688 + 229_376 + 1_048_576 + 8_388_608 + 4_194_304, t.Flops);

        var cached = new FlopTally();
        ModelFlops.TransformerBlock(cached, batch: 2, n: 64, dim: 64, contextDim: 32, onlyCross: false, new ModelFlops.TextShape(7, KeyValues: false));
        Assert.Equal(t.Flops - 114_688, cached.Flops);
    }

    // The walks must visit exactly the conv and linear weights of the modules (norms and embeddings are not matrix work).
    static long LayerParameters(nn.Module module) => module.named_parameters()
        .Where(p => !p.name.Contains("norm", StringComparison.Ordinal) && !p.name.Contains("token_embedding", StringComparison.Ordinal)
                    && !p.name.Contains("position_embedding", StringComparison.Ordinal))
        .Sum(p => p.parameter.numel());

    public static TheoryData<string> UNetConfigs => ["tiny", "default (the shipped architecture)", "linear projection, only cross attention", "two transformer layers"];

    [Theory]
    [MemberData(nameof(UNetConfigs))]
    public void UNet_WalkCoversEveryLayerOfTheModule(string name)
    {
        UNetConfig config = name switch
        {
            "tiny" => UNetConfig.Tiny,
            "default (the shipped architecture)" => UNetConfig.Default,
            "linear projection, only cross attention" => UNetConfig.Tiny with { UseLinearProjection = true, OnlyCrossAttention = true },
            "two transformer layers" => UNetConfig.Tiny with { TransformerLayersPerBlock = 2 },
            _ => throw new ArgumentException(name),
        };
        using var unet = new UNet2DConditionModel(config);
        FlopTally t = ModelFlops.UNet(config, batch: 2, height: 16, width: 16, tokens: 77);
        Assert.Equal(LayerParameters(unet), t.LayerParameters);
        Assert.True(ModelFlops.UNet(config, 2, 16, 16, 77, textKeyValues: false).Flops < t.Flops);
        output.WriteLine($"{name}: {t.Flops / 1e9:F3} GFLOP per batch-2 call at 16x16");
    }

    [Fact]
    public void TextEncoderAndVae_WalksCoverEveryLayerOfTheModules()
    {
        foreach (ClipTextConfig config in new[] { ClipTextConfig.Tiny, ClipTextConfig.Default })
        {
            using var model = new ClipTextModel(config);
            Assert.Equal(LayerParameters(model), ModelFlops.TextEncoder(config, 1, 77).LayerParameters);
        }
        foreach (VaeConfig config in new[] { VaeConfig.Tiny, VaeConfig.Light })
        {
            using var vae = new AutoencoderKL(config);
            long counted = ModelFlops.VaeDecoder(config, 1, 8, 8).LayerParameters + ModelFlops.VaeEncoder(config, 1, 64, 64).LayerParameters;
            Assert.Equal(LayerParameters(vae), counted);
        }
    }

    [Fact]
    public void ShippedArchitecture_Totals()
    {
        // One 64x64 image: U-Net at batch 2 (a guided step) on 16x16 latents, the text encoder on [1, 77], one VAE decode.
        double unet = ModelFlops.UNet(UNetConfig.Default, 2, 16, 16, 77).Flops;
        double text = ModelFlops.TextEncoder(ClipTextConfig.Default, 1, 77).Flops;
        double vae = ModelFlops.VaeDecoder(VaeConfig.Light, 1, 16, 16).Flops;
        output.WriteLine($"U-Net step {unet / 1e9:F3} GFLOP, text encoder {text / 1e9:F3} GFLOP, VAE decode {vae / 1e9:F3} GFLOP");
        // The U-Net's convolutions dominate: more than the text encoder's whole call, per step.
        Assert.True(unet > text && vae > 0);
    }

    [Fact]
    public void NullConfig_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => ModelFlops.UNet(null!, 1, 8, 8, 7));
        Assert.Throws<ArgumentNullException>(() => ModelFlops.TextEncoder(null!, 1, 7));
        Assert.Throws<ArgumentNullException>(() => ModelFlops.VaeDecoder(null!, 1, 8, 8));
    }
}
