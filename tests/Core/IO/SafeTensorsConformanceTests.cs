using Latent.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Tests.IO;

/// <summary>The diffusers conformance files (written by Python's safetensors) read correctly and write back identically.</summary>
public class SafeTensorsConformanceTests
{
    static string Parity(string relative) => Path.Combine(TestEnvironment.Parity, relative);

    [Theory]
    [InlineData("vae/diffusion_pytorch_model.safetensors", 124, "decoder.conv_in.weight", new long[] { 64, 4, 3, 3 })]
    [InlineData("vae/diffusion_pytorch_model.safetensors", 124, "encoder.conv_in.weight", new long[] { 32, 3, 3, 3 })]
    [InlineData("text_encoder/model.safetensors", 36, "text_model.embeddings.token_embedding.weight", new long[] { 1000, 32 })]
    [InlineData("text_encoder/model.safetensors", 36, "text_model.embeddings.position_embedding.weight", new long[] { 77, 32 })]
    [InlineData("unet/diffusion_pytorch_model.safetensors", 304, "conv_in.weight", new long[] { 32, 4, 3, 3 })]
    [InlineData("unet/diffusion_pytorch_model.safetensors", 304, "conv_norm_out.bias", new long[] { 32 })]
    public void Load_ReadsTheConformanceWeights(string file, int count, string key, long[] shape)
    {
        using var scope = NewDisposeScope();
        string path = Parity(file);
        var tensors = SafeTensors.Load(path);

        Assert.Equal(count, tensors.Count);
        Assert.All(tensors.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
        Assert.Equal(shape, tensors[key].shape);
        Assert.True(tensors[key].isfinite().all().item<bool>());
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, SafeTensors.ReadMetadata(path));

        using var handle = SafeTensors.Open(path);
        long dataBytes = new FileInfo(path).Length - handle.DataOffset;
        Assert.Equal(dataBytes, tensors.Values.Sum(t => t.numel() * 4));
        Assert.Equal(handle.Keys, tensors.Keys);
    }

    [Fact]
    public void Load_TextEncoderFileHasNoPositionIds()
    {
        using var file = SafeTensors.Open(Parity("text_encoder/model.safetensors"));
        Assert.False(file.Contains("text_model.embeddings.position_ids"));
    }

    [Fact]
    public void Load_ReadsTheI64ReferenceVectors()
    {
        using var scope = NewDisposeScope();
        var text = SafeTensors.Load(Parity("vectors/text_encoder.safetensors"));
        var ids = text["input_ids"];
        var eos = text["eos_positions"];
        Assert.Equal(ScalarType.Int64, ids.dtype);
        Assert.Equal([2L, 77], ids.shape);
        Assert.Equal(ScalarType.Int64, eos.dtype);
        Assert.Equal([2L], eos.shape);
        for (int b = 0; b < 2; b++)
        {
            long position = eos[b].item<long>();
            Assert.Equal(999L, ids[b, position].item<long>()); // the eos token
            Assert.Equal(998L, ids[b, 0].item<long>());        // the bos token
        }
        Assert.Equal([3L, 2, 77, 32], text["hidden_states"].shape);
        Assert.Equal("eval/parity/make_vectors.py", SafeTensors.ReadMetadata(Parity("vectors/text_encoder.safetensors"))["producer"]);

        var unet = SafeTensors.Load(Parity("vectors/unet.safetensors"));
        Assert.Equal(17, unet.Count);
        Assert.Equal((ScalarType.Int64, 0), (unet["timestep_scalar"].dtype, unet["timestep_scalar"].shape.Length));
        Assert.Equal(ScalarType.Int64, unet["timestep"].dtype);
        Assert.Equal([2L, 4, 16, 16], unet["output"].shape);

        var vae = SafeTensors.Load(Parity("vectors/vae.safetensors"));
        Assert.Equal(21, vae.Count);
        Assert.Equal([1L, 3, 32, 32], vae["x"].shape);
    }

    [Theory]
    [InlineData("vae/diffusion_pytorch_model.safetensors")]
    [InlineData("text_encoder/model.safetensors")]
    [InlineData("unet/diffusion_pytorch_model.safetensors")]
    public void Save_ReproducesPythonsFileByteForByte(string file)
    {
        using var scope = NewDisposeScope();
        string source = Parity(file);
        string copy = Path.Combine(TestEnvironment.NewTempDir(), "copy.safetensors");
        SafeTensors.Save(copy, SafeTensors.Load(source), SafeTensors.ReadMetadata(source));
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(copy));
    }
}
