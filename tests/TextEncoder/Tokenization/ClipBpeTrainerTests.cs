using Latent.TextEncoder.Tokenization;

namespace Latent.TextEncoder.Tests.Tokenization;

public class ClipBpeTrainerTests
{
    static readonly string[] Captions = MakeCaptions();

    static string[] MakeCaptions()
    {
        string[] colors = ["red", "green", "blue", "yellow"], animals = ["cat", "dog", "horse", "bird", "fox"];
        string[] places = ["on the moon", "in a garden", "near a lake", "under a tree"];
        var captions = new List<string>();
        foreach (string c in colors)
            foreach (string a in animals)
                foreach (string p in places)
                    captions.Add($"A {c} {a} sitting {p}, photo");
        captions.Add("Café au lait 🙂 猫");
        return captions.ToArray();
    }

    [Fact]
    public void Train_MergesTheMostFrequentPairFirst()
    {
        var tokenizer = ClipBpeTrainer.Train(["low low low lower newest newest"], ClipBpeTrainerOptions.Tiny);

        // (l, o) occurs 4 times, (lo, w</w>) then 3 times.
        Assert.Equal(("l", "o"), tokenizer.Merges[0]);
        Assert.Equal(("lo", "w</w>"), tokenizer.Merges[1]);
    }

    [Fact]
    public void Train_IsDeterministicWhateverTheCaptionOrder()
    {
        var options = ClipBpeTrainerOptions.Tiny;
        var first = ClipBpeTrainer.Train(Captions, options);
        var second = ClipBpeTrainer.Train(Captions.Reverse(), options);
        string dirA = TestEnvironment.NewTempDir(), dirB = TestEnvironment.NewTempDir();

        first.SavePretrained(dirA);
        second.SavePretrained(dirB);

        Assert.True(first.Merges.Count > 10);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dirA, "vocab.json")), File.ReadAllBytes(Path.Combine(dirB, "vocab.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dirA, "merges.txt")), File.ReadAllBytes(Path.Combine(dirB, "merges.txt")));
    }

    [Fact]
    public void Train_LaysOutTheVocabularyAsClipDoes()
    {
        var tokenizer = ClipBpeTrainer.Train(Captions, new ClipBpeTrainerOptions { VocabSize = 560 });
        var vocab = tokenizer.Vocabulary;

        Assert.Equal(560, tokenizer.VocabSize);
        Assert.Equal(0, vocab["!"]);
        Assert.Equal(256, vocab["!</w>"]);
        Assert.Equal(188, vocab["\u0100"]); // byte 0, the first non-printable byte
        Assert.Equal(512, vocab[tokenizer.Merges[0].Left + tokenizer.Merges[0].Right]);
        Assert.Equal(558, tokenizer.BosId);
        Assert.Equal(559, tokenizer.EosId);
        Assert.Equal(559, tokenizer.PadId);
    }

    [Fact]
    public void Train_StopsWhenNoPairIsFrequentEnough()
    {
        var tokenizer = ClipBpeTrainer.Train(["abc xyz"], ClipBpeTrainerOptions.Tiny);

        Assert.Empty(tokenizer.Merges);
        Assert.Equal(ClipBpeTrainerOptions.MinVocabSize, tokenizer.VocabSize);
    }

    [Fact]
    public void Train_SavedFilesLoadBackAndRoundTripCaptions()
    {
        var trained = ClipBpeTrainer.Train(Captions, ClipBpeTrainerOptions.Tiny);
        string dir = TestEnvironment.NewTempDir();
        trained.SavePretrained(dir);

        var loaded = ClipTokenizer.FromPretrained(dir);

        Assert.Equal(trained.VocabSize, loaded.VocabSize);
        foreach (string caption in Captions)
        {
            int[] ids = loaded.Encode(caption);
            Assert.Equal(trained.Encode(caption), ids);
            string words = string.Join(' ', ClipPreTokenizer.Split(ClipTokenizer.NormalizeText(caption)));
            Assert.Equal(words, loaded.Decode(ids, cleanUpTokenizationSpaces: false));
        }
        // Merged tokens are used: a frequent word is one token.
        Assert.Single(loaded.Tokenize("sitting"));
    }

    [Fact]
    public void Train_ThrowsForAVocabSizeOutOfRange()
    {
        var e = Assert.Throws<ArgumentException>(() => ClipBpeTrainer.Train(Captions, new ClipBpeTrainerOptions { VocabSize = 100 }));
        Assert.Contains("got 100", e.Message);
        Assert.Contains("514", e.Message);
    }

    [Fact]
    public void Train_ThrowsForAMinPairFrequencyBelowOne()
    {
        var e = Assert.Throws<ArgumentException>(() => ClipBpeTrainer.Train(Captions, ClipBpeTrainerOptions.Tiny with { MinPairFrequency = 0 }));
        Assert.Contains("got 0", e.Message);
    }

    [Fact]
    public void Train_ThrowsForANullCaption()
    {
        var e = Assert.Throws<ArgumentException>(() => ClipBpeTrainer.Train(["a cat", null!], ClipBpeTrainerOptions.Tiny));
        Assert.Contains("Caption 1", e.Message);
    }
}
