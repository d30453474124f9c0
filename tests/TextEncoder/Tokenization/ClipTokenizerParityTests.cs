using Latent.Core.IO;
using Latent.TextEncoder.Tokenization;
using TorchSharp;

namespace Latent.TextEncoder.Tests.Tokenization;

/// <summary>The conformance tokenizer folder (written by transformers 4.33) gives the stored ids.</summary>
public class ClipTokenizerParityTests
{
    static string TokenizerDir => Path.Combine(TestEnvironment.Parity, "tokenizer");

    static long[] StoredRow(int row)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var vectors = SafeTensors.Load(Path.Combine(TestEnvironment.Parity, "vectors", "text_encoder.safetensors"));
        try
        {
            // input_ids: [2, 77] -> row [77]
            return vectors["input_ids"][row].data<long>().ToArray();
        }
        finally
        {
            foreach (var t in vectors.Values) t.Dispose();
        }
    }

    [Fact]
    public void FromPretrained_ReadsTheConfigs()
    {
        var tokenizer = ClipTokenizer.FromPretrained(TokenizerDir);

        Assert.Equal(1000, tokenizer.VocabSize);
        Assert.Equal(998, tokenizer.BosId);
        Assert.Equal(999, tokenizer.EosId);
        Assert.Equal(999, tokenizer.PadId);
        Assert.Equal(77, tokenizer.ModelMaxLength);
        Assert.Equal(486, tokenizer.Merges.Count);
    }

    [Fact]
    public void Encode_PaddedWithEos_MatchesStoredRow0()
    {
        var tokenizer = ClipTokenizer.FromPretrained(TokenizerDir);

        ClipEncoding encoding = tokenizer.Encode("a photo of a cat", ClipPaddingOptions.Default);

        Assert.Equal(StoredRow(0), encoding.InputIds.Select(i => (long)i).ToArray());
        Assert.Equal(Enumerable.Range(0, 77).Select(i => i < 7 ? 1 : 0), encoding.AttentionMask);
    }

    [Fact]
    public void Encode_PaddedWithZero_MatchesStoredRow1()
    {
        var tokenizer = ClipTokenizer.FromPretrained(TokenizerDir);

        ClipEncoding encoding = tokenizer.Encode("an astronaut riding a horse on the moon", ClipPaddingOptions.WithPadId(0));

        Assert.Equal(StoredRow(1), encoding.InputIds.Select(i => (long)i).ToArray());
        Assert.Equal(11, encoding.AttentionMask.Sum());
    }

    [Fact]
    public void EncodeBatch_GivesInt64TensorsOfTheStoredRows()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var tokenizer = ClipTokenizer.FromPretrained(TokenizerDir);

        var (ids, mask) = tokenizer.EncodeBatch(["a photo of a cat", "A  photo of a CAT\n"]);
        using (ids)
        using (mask)
        {
            Assert.Equal(torch.ScalarType.Int64, ids.dtype);
            Assert.Equal(new long[] { 2, 77 }, ids.shape);
            Assert.Equal(new long[] { 2, 77 }, mask.shape);
            Assert.Equal(StoredRow(0), ids[0].data<long>().ToArray());
            Assert.Equal(StoredRow(0), ids[1].data<long>().ToArray());
            Assert.Equal(14, mask.sum().item<long>());
        }
    }

    [Fact]
    public void SavePretrained_WritesTheFixtureFilesByteForByte()
    {
        var tokenizer = ClipTokenizer.FromPretrained(TokenizerDir);
        string dir = TestEnvironment.NewTempDir();

        tokenizer.SavePretrained(dir);

        foreach (string name in new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(TokenizerDir, name)), File.ReadAllBytes(Path.Combine(dir, name)));
    }
}
