using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Latent.Core.Config;
using Latent.Core.Data;
using Latent.Core.Imaging;
using Latent.Core.IO;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.Vae;
using TorchSharp;
using static TorchSharp.torch;
using Latent.Pipeline;

namespace Latent.Training.UNet;

/// <summary>How far <see cref="LatentCache.Build"/> is.</summary>
/// <param name="Part">"latents" (VAE encoding) or "text" (text encoding).</param>
/// <param name="Done">Items encoded so far.</param>
/// <param name="Total">Items to encode.</param>
public sealed record LatentCacheProgress(string Part, int Done, int Total);

/// <summary>
/// The frozen models' outputs for a data set, on disk, so that only the first run pays for the VAE and the text encoder:
/// per image the VAE posterior's mean and log-variance (<c>latents.safetensors</c>, float16 [N, C, h, w] each), per
/// distinct caption the text encoder's last hidden state (<c>text-NNNNN.safetensors</c>, float16 [T, D] each, 1024 per
/// shard) and the empty prompt's.
/// </summary>
/// <remarks>
/// <para>The posterior is cached, not a sample of it: the trainer draws z = mean + exp(logvar / 2) · ε with its own seeded
/// generator at every step, so caching does not freeze the VAE's noise. The log-variance rather than the standard deviation
/// is stored because float16 keeps it to 3 significant digits over the whole clamped range [−30, 20], whereas a standard
/// deviation near 1e-7 would fall into float16's subnormals.</para>
/// <para>Each file's metadata holds a SHA-256 key of everything its content depends on: for the latents, the VAE's config
/// and weights, the image size and each image's name and bytes; for the text, the text encoder's config and weights and the
/// token ids of every caption (which covers the tokenizer and the padding). A part whose key differs is rebuilt.</para>
/// </remarks>
public sealed class LatentCache : IDisposable
{
    /// <summary>The latents file's name.</summary>
    public const string LatentsFileName = "latents.safetensors";

    /// <summary>Captions per text shard (40 MB of float16 for SD's 77 x 256 states; bounded memory while writing).</summary>
    public const int CaptionsPerShard = 1024;

    const string Format = "latent-cache/1";
    const string EmptyKey = "empty";

    readonly Tensor mean;      // [N, C, h, w] float16
    readonly Tensor logVar;    // [N, C, h, w] float16
    readonly Tensor empty;     // [T, D] float16
    readonly SafeTensorsFile[] shards;

    LatentCache(string directory, Tensor mean, Tensor logVar, Tensor empty, SafeTensorsFile[] shards, List<string> captions,
        int[][] imageCaptions, IReadOnlyList<ImageFolderRecord> records, int encodedImages, int encodedCaptions)
    {
        Records = records;
        Directory = directory;
        this.mean = mean;
        this.logVar = logVar;
        this.empty = empty;
        this.shards = shards;
        Captions = captions;
        ImageCaptions = imageCaptions;
        EncodedImages = encodedImages;
        EncodedCaptions = encodedCaptions;
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>N, the number of images.</summary>
    public int Count => ImageCaptions.Count;

    /// <summary>The distinct captions, in order of first appearance.</summary>
    public IReadOnlyList<string> Captions { get; }

    /// <summary>For each image, the indices into <see cref="Captions"/> of its captions (at least one).</summary>
    public IReadOnlyList<int[]> ImageCaptions { get; }

    /// <summary>The data set's records, one per image in cache order (their metadata fields group images for
    /// <see cref="UNetTrainingConfig.BalanceBy"/>).</summary>
    public IReadOnlyList<ImageFolderRecord> Records { get; }

    /// <summary>The latent shape [C, h, w] of one image.</summary>
    public long[] LatentShape => mean.shape[1..];

    /// <summary>The text states' shape [T, D].</summary>
    public long[] TextShape => empty.shape;

    /// <summary>Images this <see cref="Build"/> ran through the VAE (0 when the cached latents were reused).</summary>
    public int EncodedImages { get; }

    /// <summary>Captions (the empty prompt included) this <see cref="Build"/> ran through the text encoder (0 when reused).</summary>
    public int EncodedCaptions { get; }

    /// <summary>
    /// Opens the cache in <paramref name="directory"/>, first (re)building each part whose key does not match the given
    /// models and data.
    /// </summary>
    /// <param name="directory">The cache folder (created when missing), e.g. <c>OUT/cache</c>.</param>
    /// <param name="data">The images and captions.</param>
    /// <param name="imageSize">The size images are resized to before encoding (the VAE's sample size).</param>
    /// <param name="vae">The frozen VAE (not modified; run without gradients).</param>
    /// <param name="textEncoder">The frozen text encoder.</param>
    /// <param name="tokenizer">Its tokenizer (SD 1.x padding to model_max_length).</param>
    /// <param name="batchSize">Items per forward while encoding.</param>
    /// <param name="progress">Receives a report after each encoded batch.</param>
    /// <exception cref="ArgumentException">The data set is empty or the text encoder's width is not the expected one.</exception>
    public static LatentCache Build(string directory, ImageFolderDataset data, ImageSize imageSize, AutoencoderKL vae,
        ClipTextModel textEncoder, ClipTokenizer tokenizer, int batchSize = 32, IProgress<LatentCacheProgress>? progress = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(textEncoder);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (data.Count == 0) throw new ArgumentException($"the data set in '{data.Folder}' has no images; expected at least one", nameof(data));
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "expected at least 1");
        imageSize.Validate(nameof(imageSize));
        directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(directory);

        // 1. Distinct captions and each image's caption indices.
        var captions = new List<string>();
        var captionIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var imageCaptions = data.Records.Select(r => r.Captions.Select(c =>
        {
            if (!captionIndex.TryGetValue(c, out int i)) { i = captions.Count; captionIndex[c] = i; captions.Add(c); }
            return i;
        }).ToArray()).ToArray();

        // 2. Latents: reuse or encode.
        string latentsPath = Path.Combine(directory, LatentsFileName);
        string latentsKey = LatentsKey(data, imageSize, vae);
        int encodedImages = 0;
        if (!KeyMatches(latentsPath, latentsKey, data.Count))
        {
            EncodeLatents(latentsPath, latentsKey, data, imageSize, vae, batchSize, progress);
            encodedImages = data.Count;
        }
        Tensor mean, logVar;
        using (var file = SafeTensors.Open(latentsPath))
        {
            mean = file.ReadTensor("mean");
            logVar = file.ReadTensor("logvar");
        }

        // 3. Text states: reuse or encode, shard by shard.
        var (ids, _) = tokenizer.EncodeBatch([.. captions, ""]);
        int shardCount = (captions.Count + CaptionsPerShard - 1) / CaptionsPerShard;
        string textKey;
        using (ids) textKey = TextKey(textEncoder, ids, shardCount);
        int encodedCaptions = 0;
        bool textValid = Enumerable.Range(0, shardCount).All(s => KeyMatches(ShardPath(directory, s), textKey, shardCount));
        if (!textValid)
        {
            EncodeText(directory, textKey, captions, textEncoder, tokenizer, batchSize, progress);
            encodedCaptions = captions.Count + 1;
        }
        var shards = Enumerable.Range(0, shardCount).Select(s => SafeTensors.Open(ShardPath(directory, s))).ToArray();
        var empty = shards[0].ReadTensor(EmptyKey);
        return new LatentCache(directory, mean, logVar, empty, shards, captions, imageCaptions, data.Records, encodedImages, encodedCaptions);
    }

    /// <summary>The cached posteriors of images <paramref name="indices"/> as float32: mean and log-variance, each [B, C, h, w].</summary>
    public (Tensor Mean, Tensor LogVar) Posterior(int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        using var scope = NewDisposeScope();
        var idx = tensor(indices.Select(i => (long)i).ToArray());
        var m = mean.index_select(0, idx).to(ScalarType.Float32);      // [B, C, h, w]
        var v = logVar.index_select(0, idx).to(ScalarType.Float32);    // [B, C, h, w]
        return (m.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope());
    }

    /// <summary>The cached text states as float32 [B, T, D]: caption <paramref name="captionIndices"/>[b], or the empty
    /// prompt where the index is −1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside [−1, number of captions).</exception>
    public Tensor TextStates(int[] captionIndices)
    {
        ArgumentNullException.ThrowIfNull(captionIndices);
        using var scope = NewDisposeScope();
        var rows = captionIndices.Select(c =>
        {
            if (c < -1 || c >= Captions.Count)
                throw new ArgumentOutOfRangeException(nameof(captionIndices), c, $"expected a caption index in [-1, {Captions.Count})");
            return c < 0 ? empty : shards[c / CaptionsPerShard].ReadTensor(c.ToString(CultureInfo.InvariantCulture));
        }).ToList();
        return stack(rows, 0).to(ScalarType.Float32).MoveToOuterDisposeScope();   // B x [T, D] -> [B, T, D]
    }

    /// <summary>Frees the cached tensors and closes the text shards.</summary>
    public void Dispose()
    {
        mean.Dispose();
        logVar.Dispose();
        empty.Dispose();
        foreach (var s in shards) s.Dispose();
    }

    static string ShardPath(string directory, int shard) =>
        Path.Combine(directory, $"text-{shard.ToString("D5", CultureInfo.InvariantCulture)}.safetensors");

    static bool KeyMatches(string path, string key, int count)
    {
        if (!File.Exists(path)) return false;
        try
        {
            var m = SafeTensors.ReadMetadata(path);
            return m.TryGetValue("format", out var f) && f == Format && m.TryGetValue("key", out var k) && k == key
                && m.TryGetValue("count", out var c) && c == count.ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is SafeTensorsFormatException or IOException)
        {
            return false;   // a corrupt file is rebuilt
        }
    }

    static Dictionary<string, string> Metadata(string key, int count) => new()
    {
        ["format"] = Format,
        ["key"] = key,
        ["count"] = count.ToString(CultureInfo.InvariantCulture),
    };

    static void EncodeLatents(string path, string key, ImageFolderDataset data, ImageSize size, AutoencoderKL vae, int batchSize,
        IProgress<LatentCacheProgress>? progress)
    {
        var means = new List<Tensor>();
        var logVars = new List<Tensor>();
        try
        {
            for (int start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                int end = Math.Min(start + batchSize, data.Count);
                // B x [3, H, W] -> [B, 3, H, W]
                var images = stack(Enumerable.Range(start, end - start).Select(i => data.LoadImage(i, size)).ToList(), 0);
                using var posterior = vae.Encode(images);
                means.Add(posterior.Mean.to(ScalarType.Float16).DetachFromDisposeScope());
                logVars.Add(posterior.LogVar.to(ScalarType.Float16).DetachFromDisposeScope());
                progress?.Report(new LatentCacheProgress("latents", end, data.Count));
            }
            using var allMeans = cat(means, 0);        // [N, C, h, w]
            using var allLogVars = cat(logVars, 0);    // [N, C, h, w]
            SafeTensors.Save(path, new Dictionary<string, Tensor> { ["mean"] = allMeans, ["logvar"] = allLogVars }, Metadata(key, data.Count));
        }
        finally
        {
            foreach (var t in means.Concat(logVars)) t.Dispose();
        }
    }

    static void EncodeText(string directory, string key, List<string> captions, ClipTextModel textEncoder, ClipTokenizer tokenizer,
        int batchSize, IProgress<LatentCacheProgress>? progress)
    {
        int shardCount = (captions.Count + CaptionsPerShard - 1) / CaptionsPerShard;
        for (int shard = 0; shard < shardCount; shard++)
        {
            var tensors = new Dictionary<string, Tensor>();
            try
            {
                int first = shard * CaptionsPerShard, last = Math.Min(first + CaptionsPerShard, captions.Count);
                var texts = captions.GetRange(first, last - first);
                var names = Enumerable.Range(first, last - first).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
                if (shard == 0)
                {
                    texts.Add("");
                    names.Add(EmptyKey);
                }
                for (int s = 0; s < texts.Count; s += batchSize)
                {
                    int n = Math.Min(batchSize, texts.Count - s);
                    using var scope = NewDisposeScope();
                    using var noGrad = no_grad();
                    var (ids, mask) = tokenizer.EncodeBatch(texts.GetRange(s, n));
                    var hidden = textEncoder.forward(ids).to(ScalarType.Float16);     // [n, T, D]
                    for (int j = 0; j < n; j++) tensors[names[s + j]] = hidden[j].clone().DetachFromDisposeScope();
                    progress?.Report(new LatentCacheProgress("text", Math.Min(first + s + n, captions.Count + 1), captions.Count + 1));
                }
                SafeTensors.Save(ShardPath(directory, shard), tensors, Metadata(key, shardCount));
            }
            finally
            {
                foreach (var t in tensors.Values) t.Dispose();
            }
        }
    }

    static string LatentsKey(ImageFolderDataset data, ImageSize size, AutoencoderKL vae)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Add(hash, "latents/1");
        Add(hash, ConfigFile.ToJsonText(vae.Config));
        AddWeights(hash, vae);
        Add(hash, $"{size.Width}x{size.Height}");
        foreach (var r in data.Records)
        {
            Add(hash, r.FileName);
            hash.AppendData(SHA256.HashData(File.ReadAllBytes(r.FullPath)));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    static string TextKey(ClipTextModel textEncoder, Tensor ids, int shardCount)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Add(hash, "text/1");
        Add(hash, ConfigFile.ToJsonText(textEncoder.Config));
        AddWeights(hash, textEncoder);
        Add(hash, $"{CaptionsPerShard}/{shardCount}/{string.Join(",", ids.shape)}");
        using var contiguous = ids.contiguous();   // held while its bytes are read: no dispose scope here
        hash.AppendData(MemoryMarshal.AsBytes(contiguous.data<long>().ToArray().AsSpan()));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    static void Add(IncrementalHash hash, string text)
    {
        hash.AppendData(Encoding.UTF8.GetBytes(text));
        hash.AppendData([0]);
    }

    /// <summary>Every state-dict entry by name: its name, dtype, shape and bytes.</summary>
    static void AddWeights(IncrementalHash hash, nn.Module module)
    {
        foreach (var (name, t) in module.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Add(hash, $"{name}:{t.dtype}:{string.Join(",", t.shape)}");
            using var c = t.detach().cpu().contiguous();
            hash.AppendData(c.bytes);
        }
    }
}
