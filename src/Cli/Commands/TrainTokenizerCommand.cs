using System.CommandLine;
using Latent.Core.Data;
using Latent.TextEncoder.Tokenization;

namespace Latent.Cli.Commands;

/// <summary><c>latent train tokenizer</c>: learn CLIP-style BPE merges from a data set's captions.</summary>
public static class TrainTokenizerCommand
{
    static readonly Option<string> Data = new("--data")
    {
        Description = "An image folder with metadata.jsonl (e.g. the output of `latent data emoji`); its training captions are read.",
        Required = true,
    };

    static readonly Option<string> Out = new("--out")
    {
        Description = "The tokenizer folder to write: vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json.",
        Required = true,
    };

    static readonly Option<int> VocabSize = new("--vocab-size")
    {
        Description = $"Tokens in the vocabulary, special tokens included ({ClipBpeTrainerOptions.MinVocabSize}-{ClipBpeTrainerOptions.MaxVocabSize}); must equal the text encoder's vocab_size.",
        DefaultValueFactory = _ => 4096,
        Validators =
        {
            OptionChecks.Rule<int>(v => v is < ClipBpeTrainerOptions.MinVocabSize or > ClipBpeTrainerOptions.MaxVocabSize
                ? $"--vocab-size must be in [{ClipBpeTrainerOptions.MinVocabSize}, {ClipBpeTrainerOptions.MaxVocabSize}]; got {v}."
                : null),
        },
    };

    static readonly Option<string> Split = new("--split")
    {
        Description = "The split whose captions are learnt.",
        DefaultValueFactory = _ => ImageFolderDataset.DefaultSplit,
    };

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("tokenizer", "Learn BPE merges from the captions of a data set and write a CLIP tokenizer folder (deterministic).");
        command.Options.Add(Data);
        command.Options.Add(Out);
        command.Options.Add(VocabSize);
        command.Options.Add(Split);
        command.Options.Add(DataOptions.SkipBad);
        command.SetAction(CommandRunner.Wrap(Run));
        return command;
    }

    static int Run(ParseResult parsed)
    {
        string data = parsed.GetValue(Data)!;
        var dataset = DataOptions.Read(parsed, data, parsed.GetValue(Split), ImageCheck.Exists);
        if (dataset.Count == 0)
            throw new InvalidDataException($"no records of split '{parsed.GetValue(Split)}' in {Path.Combine(data, ImageFolderDataset.MetadataFile)}");
        List<string> captions = dataset.Records.SelectMany(r => r.Captions).ToList();
        var options = new ClipBpeTrainerOptions { VocabSize = parsed.GetValue(VocabSize) };
        var tokenizer = ClipBpeTrainer.Train(captions, options);
        string outDir = parsed.GetValue(Out)!;
        tokenizer.SavePretrained(outDir);
        Console.WriteLine($"learnt {tokenizer.Merges.Count} merges from {captions.Count} captions of {dataset.Count} images; " +
                          $"vocabulary {tokenizer.VocabSize} tokens; wrote {Path.GetFullPath(outDir)}");
        if (tokenizer.VocabSize < options.VocabSize)
            Console.WriteLine($"note: stopped below --vocab-size {options.VocabSize}: no further pair occurs at least " +
                              $"{options.MinPairFrequency} times; give the text encoder vocab_size {tokenizer.VocabSize}");
        return 0;
    }
}
