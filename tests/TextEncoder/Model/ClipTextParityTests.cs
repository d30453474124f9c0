using Latent.Core.IO;
using Latent.TextEncoder;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Latent.TextEncoder.Tests.Model;

/// <summary>transformers 4.33's CLIPTextModel outputs on the conformance fixture, reproduced within 1e-4.</summary>
public class ClipTextParityTests(ITestOutputHelper output)
{
    const double Tolerance = 1e-4;
    static string ModelDir => Path.Combine(TestEnvironment.Parity, "text_encoder");
    static string VectorsPath => Path.Combine(TestEnvironment.Parity, "vectors", "text_encoder.safetensors");

    [Fact]
    public void FromPretrained_WithoutPositionIds_ReproducesTransformers()
    {
        using var model = ClipTextModel.FromPretrained(ModelDir);
        AssertParity(model, "without position_ids");
    }

    [Fact]
    public void FromPretrained_WithPositionIds_ReproducesTransformers()
    {
        using var scope = NewDisposeScope();
        // A copy of the fixture whose weights carry the I64 [1, 77] buffer, as many real checkpoints do.
        string dir = TestEnvironment.NewTempDir();
        File.Copy(Path.Combine(ModelDir, "config.json"), Path.Combine(dir, "config.json"));
        var tensors = SafeTensors.Load(Path.Combine(ModelDir, "model.safetensors"));
        tensors[ClipTextModel.PositionIdsKey] = TestTensors.Arange(77, dtype: ScalarType.Int64).unsqueeze(0);
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), tensors);
        foreach (var t in tensors.Values) t.Dispose();

        using var model = ClipTextModel.FromPretrained(dir);
        AssertParity(model, "with position_ids");
    }

    [Fact]
    public void StrictLoad_WithoutKeyMap_RejectsPositionIds()
    {
        using var scope = NewDisposeScope();
        var tensors = SafeTensors.Load(Path.Combine(ModelDir, "model.safetensors"));
        tensors[ClipTextModel.PositionIdsKey] = TestTensors.Arange(77, dtype: ScalarType.Int64).unsqueeze(0);
        try
        {
            using var model = new ClipTextModel(ClipTextConfig.Tiny);
            var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.Load(model, tensors));
            Assert.Contains(ClipTextModel.PositionIdsKey, e.Message);
            var report = StateDictLoader.Load(model, tensors, ClipTextModel.CheckpointLoadOptions);
            Assert.Equal([ClipTextModel.PositionIdsKey], report.Dropped);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void PoolingPositions_MatchStoredEosPositions()
    {
        using var scope = NewDisposeScope();
        using var model = ClipTextModel.FromPretrained(ModelDir);
        var vectors = SafeTensors.Load(VectorsPath);
        try
        {
            using var positions = model.PoolingPositions(vectors["input_ids"]);
            Assert.Equal(vectors["eos_positions"].data<long>().ToArray(), positions.data<long>().ToArray());
            // Row 1 is padded with id 0: argmax(input_ids) would not be its eos, the first-eos rule is what matters.
            using var ids1 = vectors["input_ids"][1];
            Assert.Equal(999L, ids1[positions[1]].item<long>());
        }
        finally
        {
            foreach (var t in vectors.Values) t.Dispose();
        }
    }

    void AssertParity(ClipTextModel model, string label)
    {
        using var scope = NewDisposeScope();
        var vectors = SafeTensors.Load(VectorsPath);
        try
        {
            using var result = model.Encode(vectors["input_ids"], outputHiddenStates: true);
            using var hidden = stack(result.HiddenStates!.ToArray());     // (N + 1) x [B, T, D] -> [N + 1, B, T, D]
            double last = MaxAbsDiff(result.LastHiddenState, vectors["last_hidden_state"]);
            double pooled = MaxAbsDiff(result.PoolerOutput, vectors["pooler_output"]);
            double states = MaxAbsDiff(hidden, vectors["hidden_states"]);
            output.WriteLine($"{label}: max |diff| last_hidden_state {last:E2}, pooler_output {pooled:E2}, hidden_states {states:E2}");
            Assert.True(last < Tolerance, $"last_hidden_state differs by {last}");
            Assert.True(pooled < Tolerance, $"pooler_output differs by {pooled}");
            Assert.True(states < Tolerance, $"hidden_states differs by {states}");
        }
        finally
        {
            foreach (var t in vectors.Values) t.Dispose();
        }
    }

    static double MaxAbsDiff(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(expected.shape, actual.shape);
        using var diff = (actual - expected).abs().max();
        return diff.item<float>();
    }
}
