using System.Collections.Concurrent;
using Latent.Core.IO;

namespace Latent.Cli.Tests;

public class OutputNamesTests
{
    [Fact]
    public void NextFree_NumbersAfterTheHighestPng()
    {
        string dir = TestEnvironment.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "00007-1.png"), "");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "");
        Assert.Equal(Path.Combine(dir, "00008-42.png"), OutputNames.NextFree(dir, "42"));
    }

    [Fact]
    public void NextFree_ConcurrentWriters_NeverShareANumberOrLoseAnImage()
    {
        // 8 writers x 12 images into one folder, each claiming a name and then writing its PNG atomically, as txt2img does;
        // different suffixes (seeds) per writer, as with different prompts.
        const int Writers = 8, PerWriter = 12;
        string dir = TestEnvironment.NewTempDir();
        var written = new ConcurrentBag<(string Path, string Content)>();
        using var start = new Barrier(Writers);
        var threads = Enumerable.Range(0, Writers).Select(w => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < PerWriter; i++)
            {
                string content = $"writer {w} image {i}";
                string path = OutputNames.NextFree(dir, $"{w}{i}");
                AtomicFile.WriteAllText(path, content);
                written.Add((path, content));
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        string[] files = Directory.GetFiles(dir);
        Assert.Equal(Writers * PerWriter, files.Length);
        var numbers = files.Select(f => Path.GetFileName(f)[..5]).ToList();
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        foreach (var (path, content) in written)
            Assert.Equal(content, File.ReadAllText(path)); // no image overwritten by another writer
    }
}
