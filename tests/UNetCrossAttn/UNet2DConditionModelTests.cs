using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.Core.IO;
using Latent.UNetCrossAttn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.UNetCrossAttn.Tests;

public class UNet2DConditionModelTests
{
    private static (Tensor Sample, Tensor Context) Inputs(long batch = 2, long size = 8, long tokens = 5) =>
        (randn(batch, 4, size, size, generator: new Generator(1)), randn(batch, tokens, 16, generator: new Generator(2)));

    private static UNet2DConditionModel Tiny()
    {
        manual_seed(0);
        return new UNet2DConditionModel(UNetConfig.Tiny);
    }

    [Fact]
    public void Forward_KeepsLatentShape()
    {
        using var scope = NewDisposeScope();
        using var unet = Tiny();
        var (x, ctx) = Inputs(size: 16);
        var y = unet.call(x, tensor(new long[] { 10, 900 }), ctx);
        Assert.Equal(new long[] { 2, 4, 16, 16 }, y.shape);
        Assert.False(y.isnan().any().item<bool>());
    }

    [Fact]
    public void Forward_DependsOnTimestepAndText()
    {
        using var scope = NewDisposeScope();
        using var unet = Tiny();
        var (x, ctx) = Inputs();
        var y = unet.call(x, tensor(10L), ctx);
        Assert.True((y - unet.call(x, tensor(500L), ctx)).abs().max().item<float>() > 1e-4, "the output must depend on the timestep");
        Assert.True((y - unet.call(x, tensor(10L), ctx * Scalars.Of(2))).abs().max().item<float>() > 1e-4, "the output must depend on the text");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Forward_WithAttentionCache_EqualsForward(bool onlyCrossAttention, bool linearProjection)
    {
        using var scope = NewDisposeScope();
        manual_seed(0);
        using var unet = new UNet2DConditionModel(UNetConfig.Tiny with { OnlyCrossAttention = onlyCrossAttention, UseLinearProjection = linearProjection });
        var (x, ctx) = Inputs();
        using var cache = unet.PrepareAttention(ctx);
        using var noGrad = no_grad();
        var expected = unet.forward(x, tensor(300L), ctx);
        var actual = unet.Forward(x, tensor(300L), ctx, cache);
        float diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff < 1e-5f, $"the cached forward differs by {diff:E2}");
    }

    [Fact]
    public void PrepareAttention_WrongWidth_ThrowsNamingTheShape()
    {
        using var unet = Tiny();
        using var ctx = randn(2, 5, 15);
        var e = Assert.Throws<ArgumentException>(() => unet.PrepareAttention(ctx));
        Assert.Contains("[2, 5, 15]", e.Message);
    }

    [Fact]
    public void Forward_ScalarTimestepEqualsBroadcastBatch()
    {
        using var scope = NewDisposeScope();
        using var unet = Tiny();
        var (x, ctx) = Inputs();
        var scalar = unet.call(x, tensor(250L), ctx);
        var batch = unet.call(x, tensor(new float[] { 250f, 250f }), ctx);
        Assert.True((scalar - batch).abs().max().item<float>() == 0f);
    }

    [Fact]
    public void Keys_FollowDiffusersNames()
    {
        using var unet = Tiny();
        var keys = unet.state_dict().Keys.ToHashSet();
        Assert.Contains("time_embedding.linear_1.weight", keys);
        Assert.Contains("down_blocks.0.downsamplers.0.conv.weight", keys);
        Assert.Contains("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", keys);
        Assert.Contains("down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj.weight", keys);
        Assert.Contains("down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2.bias", keys);
        Assert.Contains("mid_block.attentions.0.proj_in.weight", keys);
        Assert.Contains("up_blocks.0.upsamplers.0.conv.weight", keys);
        Assert.Contains("up_blocks.0.resnets.1.conv_shortcut.weight", keys);
        Assert.Contains("conv_norm_out.weight", keys);
        Assert.DoesNotContain(keys, k => k.Contains("time_proj") || k.Contains("to_out.1"));
    }

    [Fact]
    public void Parameters_FreshModelHasNoUninitialisedNorms()
    {
        using var scope = NewDisposeScope();
        using var unet = Tiny();
        foreach (var (name, p) in unet.named_parameters())
            Assert.False(p.isnan().any().item<bool>() || p.abs().max().item<float>() > 100, $"{name} looks uninitialised");
    }

    [Fact]
    public void SaveLoad_RoundTripGivesIdenticalOutput()
    {
        using var scope = NewDisposeScope();
        using var unet = Tiny();
        unet.eval();
        string dir = TestEnvironment.NewTempDir();
        unet.SavePretrained(dir);
        using var loaded = UNet2DConditionModel.FromPretrained(dir);
        var (x, ctx) = Inputs();
        var t = tensor(new long[] { 3, 700 });
        Assert.True((unet.call(x, t, ctx) - loaded.call(x, t, ctx)).abs().max().item<float>() == 0f);
        var read = ConfigFile.Read<UNetConfig>(Path.Combine(dir, UNet2DConditionModel.ConfigFileName), UNetConfig.ClassNameValue);
        Assert.Empty(read.UnknownKeys);
        Assert.Equal(UNetConfig.Tiny.BlockOutChannels, read.Config.BlockOutChannels);
    }

    [Fact]
    public void SavePretrained_BFloat16StoresBFloat16Weights()
    {
        using var scope = NewDisposeScope();
        using var unet = Tiny();
        string dir = TestEnvironment.NewTempDir();
        unet.SavePretrained(dir, ScalarType.BFloat16);
        using var file = SafeTensors.Open(Path.Combine(dir, UNet2DConditionModel.WeightsFileName));
        Assert.All(file.Tensors, t => Assert.Equal("BF16", t.DtypeName));
        using var loaded = UNet2DConditionModel.FromPretrained(dir);
        Assert.Equal(ScalarType.Float32, loaded.state_dict()["conv_in.weight"].dtype);
    }

    [Fact]
    public void FromPretrained_ThrowsNamingMissingKeys()
    {
        using var unet = Tiny();
        string dir = TestEnvironment.NewTempDir();
        unet.SavePretrained(dir);
        var partial = SafeTensors.Load(Path.Combine(dir, UNet2DConditionModel.WeightsFileName));
        partial.Remove("conv_out.bias");
        SafeTensors.Save(Path.Combine(dir, UNet2DConditionModel.WeightsFileName), partial);
        var e = Assert.Throws<StateDictMismatchException>(() => UNet2DConditionModel.FromPretrained(dir));
        Assert.Contains("conv_out.bias", e.Message);
    }

    [Fact]
    public void Forward_ThrowsForSideNotMultipleOfDownsampling()
    {
        using var unet = Tiny();
        using var x = zeros(1, 4, 7, 8);
        using var ctx = zeros(1, 5, 16);
        using var t = tensor(1L);
        var e = Assert.Throws<ArgumentException>(() => unet.call(x, t, ctx));
        Assert.Contains("multiples of 2", e.Message);
        Assert.Contains("[1, 4, 7, 8]", e.Message);
    }

    [Fact]
    public void Forward_ThrowsForTimestepBatchMismatch()
    {
        using var unet = Tiny();
        using var x = zeros(2, 4, 8, 8);
        using var ctx = zeros(2, 5, 16);
        using var t = tensor(new long[] { 1, 2, 3 });
        var e = Assert.Throws<ArgumentException>(() => unet.call(x, t, ctx));
        Assert.Contains("[2]", e.Message);
        Assert.Contains("[3]", e.Message);
    }

    [Fact]
    public void Forward_ThrowsForTextOfWrongWidth()
    {
        using var unet = Tiny();
        using var x = zeros(2, 4, 8, 8);
        using var ctx = zeros(2, 5, 32);
        using var t = tensor(1L);
        var e = Assert.Throws<ArgumentException>(() => unet.call(x, t, ctx));
        Assert.Contains("[2, T, 16]", e.Message);
        Assert.Contains("[2, 5, 32]", e.Message);
    }
}
