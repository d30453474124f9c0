using Latent.Core.Config;
using Latent.Core.IO;
using Latent.TextEncoder;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Tests.Model;

public class ClipTextModelTests
{
    const int Eos = 999;

    static ClipTextModel NewTiny(int seed = 0)
    {
        torch.manual_seed(seed);
        var model = new ClipTextModel(ClipTextConfig.Tiny);
        model.eval();
        return model;
    }

    /// <summary>[2, 8] ids: bos, words, eos, then padding (row 0 with eos, row 1 with 0).</summary>
    static Tensor Ids() => tensor(new long[,]
    {
        { 998, 5, 17, 42, Eos, Eos, Eos, Eos },
        { 998, 7, 3, 11, 12, Eos, 0, 0 },
    });

    [Fact]
    public void Encode_ReturnsTransformersShapes()
    {
        using var scope = NewDisposeScope();
        using var model = NewTiny();
        using var ids = Ids();
        using var output = model.Encode(ids, outputHiddenStates: true);
        Assert.Equal(new long[] { 2, 8, 32 }, output.LastHiddenState.shape);
        Assert.Equal(new long[] { 2, 32 }, output.PoolerOutput.shape);
        Assert.NotNull(output.HiddenStates);
        Assert.Equal(ClipTextConfig.Tiny.NumHiddenLayers + 1, output.HiddenStates!.Count);
        Assert.All(output.HiddenStates, h => Assert.Equal(new long[] { 2, 8, 32 }, h.shape));
        using var last = model.forward(ids);
        Assert.True(last.allclose(output.LastHiddenState, rtol: 0, atol: 0));
        Assert.False(last.isnan().any().item<bool>());
    }

    [Fact]
    public void Encode_WithoutHiddenStates_ReturnsNull()
    {
        using var model = NewTiny();
        using var ids = Ids();
        using var output = model.Encode(ids);
        Assert.Null(output.HiddenStates);
    }

    [Fact]
    public void HiddenStates_LastEntryThroughFinalNorm_IsLastHiddenState()
    {
        using var model = NewTiny();
        using var ids = Ids();
        using var output = model.Encode(ids, outputHiddenStates: true);
        using var normed = model.FinalLayerNorm(output.HiddenStates![^1]);
        Assert.True(normed.allclose(output.LastHiddenState, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void Forward_IsCausal_LaterTokenLeavesEarlierStatesUnchanged()
    {
        using var scope = NewDisposeScope();
        using var model = NewTiny();
        using var ids = Ids();
        using var changed = ids.clone();
        changed[0, 5] = tensor(123L);
        using var a = model.Encode(ids, outputHiddenStates: true);
        using var b = model.Encode(changed, outputHiddenStates: true);
        for (int i = 0; i < a.HiddenStates!.Count; i++)
        {
            using var earlierA = a.HiddenStates[i][0, ..5];
            using var earlierB = b.HiddenStates![i][0, ..5];
            Assert.True(earlierA.allclose(earlierB, rtol: 0, atol: 0), $"hidden state {i} changed before the edit");
        }
        using var laterA = a.LastHiddenState[0, 5];
        using var laterB = b.LastHiddenState[0, 5];
        Assert.False(laterA.allclose(laterB), "the edited position should change");
        using var otherRowA = a.LastHiddenState[1];
        using var otherRowB = b.LastHiddenState[1];
        Assert.True(otherRowA.allclose(otherRowB, rtol: 0, atol: 0));
    }

    [Fact]
    public void PoolerOutput_IsStateAtFirstEos()
    {
        using var model = NewTiny();
        using var ids = Ids();
        using var positions = model.PoolingPositions(ids);
        Assert.Equal(new long[] { 4, 5 }, positions.data<long>().ToArray());
        using var output = model.Encode(ids);
        using var row0 = output.LastHiddenState[0, 4];
        using var row1 = output.LastHiddenState[1, 5];
        using var pooled0 = output.PoolerOutput[0];
        using var pooled1 = output.PoolerOutput[1];
        Assert.True(pooled0.allclose(row0, rtol: 0, atol: 0));
        Assert.True(pooled1.allclose(row1, rtol: 0, atol: 0));
    }

    [Fact]
    public void PoolerOutput_LegacyEosTwo_UsesArgmaxOfIds()
    {
        torch.manual_seed(0);
        using var model = new ClipTextModel(ClipTextConfig.Tiny with { EosTokenId = 2 });
        // Row 0: the largest id (998 at 1) precedes the eos id 2 (at 3): transformers 4.33 pools at argmax(ids).
        using var ids = tensor(new long[,] { { 0, 998, 5, 2, 2 }, { 0, 5, 2, 2, 2 } });
        using var positions = model.PoolingPositions(ids);
        Assert.Equal(new long[] { 1, 1 }, positions.data<long>().ToArray());
    }

    [Fact]
    public void SavePretrained_ThenFromPretrained_GivesIdenticalOutputs()
    {
        using var model = NewTiny(seed: 3);
        string dir = TestEnvironment.NewTempDir();
        model.SavePretrained(dir);
        Assert.True(File.Exists(Path.Combine(dir, "config.json")));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        var config = ConfigFile.Read<ClipTextConfig>(Path.Combine(dir, "config.json"), ClipTextConfig.ClassName).Config;
        Assert.Equal("float32", config.TorchDtype);
        Assert.Equal(["CLIPTextModel"], config.Architectures!);
        Assert.Equal("clip_text_model", config.ModelType);
        using var file = SafeTensors.Open(Path.Combine(dir, "model.safetensors"));
        Assert.Contains(file.Tensors, t => t.Name == "text_model.encoder.layers.1.mlp.fc2.weight");
        Assert.Equal(model.state_dict().Count, file.Tensors.Count);

        using var loaded = ClipTextModel.FromPretrained(dir);
        using var ids = Ids();
        using var a = model.Encode(ids);
        using var b = loaded.Encode(ids);
        Assert.True(a.LastHiddenState.allclose(b.LastHiddenState, rtol: 0, atol: 0));
        Assert.True(a.PoolerOutput.allclose(b.PoolerOutput, rtol: 0, atol: 0));
    }

    [Fact]
    public void SavePretrained_Float16_WritesHalfWeightsAndDtype()
    {
        using var model = NewTiny();
        string dir = TestEnvironment.NewTempDir();
        model.SavePretrained(dir, ScalarType.Float16);
        using (var file = SafeTensors.Open(Path.Combine(dir, "model.safetensors")))
            Assert.All(file.Tensors, t => Assert.Equal("F16", t.DtypeName));
        Assert.Contains("\"torch_dtype\": \"float16\"", File.ReadAllText(Path.Combine(dir, "config.json")));
        using var loaded = ClipTextModel.FromPretrained(dir);
        using var ids = Ids();
        using var a = model.forward(ids);
        using var b = loaded.forward(ids);
        Assert.True(a.allclose(b, rtol: 0, atol: 0.05));
    }

    [Fact]
    public void SavePretrained_IntegerDtype_Throws()
    {
        using var model = NewTiny();
        var e = Assert.Throws<ArgumentException>(() => model.SavePretrained(TestEnvironment.NewTempDir(), ScalarType.Int32));
        Assert.Contains("Int32", e.Message);
    }

    [Fact]
    public void FromPretrained_MissingKey_ThrowsNamingIt()
    {
        using var model = NewTiny();
        string dir = TestEnvironment.NewTempDir();
        model.SavePretrained(dir);
        string weights = Path.Combine(dir, "model.safetensors");
        var tensors = SafeTensors.Load(weights);
        tensors.Remove("text_model.final_layer_norm.bias", out var removed);
        removed!.Dispose();
        SafeTensors.Save(weights, tensors);
        foreach (var t in tensors.Values) t.Dispose();
        var e = Assert.Throws<StateDictMismatchException>(() => ClipTextModel.FromPretrained(dir));
        Assert.Contains("text_model.final_layer_norm.bias", e.Message);
    }

    [Fact]
    public void FromPretrained_MissingFolder_Throws()
    {
        string dir = Path.Combine(TestEnvironment.NewTempDir(), "absent");
        Assert.Throws<DirectoryNotFoundException>(() => ClipTextModel.FromPretrained(dir));
    }

    [Fact]
    public void FromPretrained_MissingWeights_Throws()
    {
        string dir = TestEnvironment.NewTempDir();
        ConfigFile.Write(Path.Combine(dir, "config.json"), ClipTextConfig.Tiny);
        var e = Assert.Throws<FileNotFoundException>(() => ClipTextModel.FromPretrained(dir));
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void Encode_WrongRank_Throws()
    {
        using var model = NewTiny();
        using var ids = tensor(new long[] { 998, 5, Eos });
        var e = Assert.Throws<ArgumentException>(() => model.Encode(ids));
        Assert.Contains("[3]", e.Message);
    }

    [Fact]
    public void Encode_WrongDtype_Throws()
    {
        using var model = NewTiny();
        using var ids = tensor(new int[,] { { 998, 5, Eos } });
        var e = Assert.Throws<ArgumentException>(() => model.Encode(ids));
        Assert.Contains("Int32", e.Message);
    }

    [Fact]
    public void Encode_TooLong_Throws()
    {
        using var model = NewTiny();
        using var ids = zeros(1, 78, dtype: ScalarType.Int64);
        var e = Assert.Throws<ArgumentException>(() => model.Encode(ids));
        Assert.Contains("78", e.Message);
        Assert.Contains("77", e.Message);
    }

    [Fact]
    public void Encode_IdOutsideVocabulary_Throws()
    {
        using var model = NewTiny();
        using var ids = tensor(new long[,] { { 998, 1000, Eos } });
        var e = Assert.Throws<ArgumentException>(() => model.Encode(ids));
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public void StateDictKeys_AreTransformersKeys()
    {
        using var model = NewTiny();
        var keys = model.state_dict().Keys.ToHashSet();
        string[] expected =
        [
            "text_model.embeddings.token_embedding.weight",
            "text_model.embeddings.position_embedding.weight",
            "text_model.encoder.layers.0.self_attn.q_proj.weight",
            "text_model.encoder.layers.0.self_attn.k_proj.bias",
            "text_model.encoder.layers.0.self_attn.v_proj.weight",
            "text_model.encoder.layers.0.self_attn.out_proj.weight",
            "text_model.encoder.layers.0.layer_norm1.weight",
            "text_model.encoder.layers.0.mlp.fc1.weight",
            "text_model.encoder.layers.1.mlp.fc2.bias",
            "text_model.encoder.layers.1.layer_norm2.bias",
            "text_model.final_layer_norm.weight",
        ];
        Assert.All(expected, k => Assert.Contains(k, keys));
        Assert.Equal(4 + 16 * 2, keys.Count);
    }

    [Fact]
    public void Gelu_DiffersFromQuickGelu()
    {
        using var quick = NewTiny();
        torch.manual_seed(0);
        using var gelu = new ClipTextModel(ClipTextConfig.Tiny with { HiddenAct = ClipActivation.Gelu });
        gelu.eval();
        StateDictLoader.Load(gelu, quick.state_dict());
        using var ids = Ids();
        using var a = quick.forward(ids);
        using var b = gelu.forward(ids);
        Assert.False(a.allclose(b, rtol: 0, atol: 1e-6));
    }
}
