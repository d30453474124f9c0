using Latent.Pipeline.Metadata;
using Latent.Core.Engine;
using Latent.Cli.Commands;
using Latent.Core.Imaging;
using Latent.UNetCrossAttn;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Cli.Tests;

/// <summary>Runs <c>latent txt2img</c> and <c>latent img2img</c> in-process on the parity pipeline, with stdout and stderr captured.</summary>
[Collection(InProcessCli.Collection)]
public class TxtToImgCommandTests
{
    static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(args);

    [Fact]
    public void TxtToImg_WritesAPngWhoseParametersParseBack()
    {
        string png = Path.Combine(TestEnvironment.NewTempDir(), "X.png");
        var r = Run("txt2img", "a photo of a cat", "--model", TestEnvironment.Parity, "--size", "32", "--steps", "2", "--seed", "1", "--out", png);
        Assert.True(r.Code == 0, r.Err);
        GenerationParameters p = GenerationParameters.ReadPng(png)!;
        Assert.Equal(new GenerationParameters("a photo of a cat", "", 2, "DDIM", 7.5, 1, 32, 32, "parity", []), p);
        using var image = ImageIO.Load(png);
        Assert.Equal(new long[] { 3, 32, 32 }, image.shape);
        Assert.Contains("wrote", r.Out);
    }

    [Fact]
    public void TxtToImg_Timings_ListsEveryStageFromProcessStartToThePng()
    {
        string png = Path.Combine(TestEnvironment.NewTempDir(), "t.png");
        var r = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--steps", "2", "--seed", "1", "--out", png,
            "--runtime", "onnxruntime", "--no-onnx-cache", "--timings");
        Assert.True(r.Code == 0, r.Err);
        foreach (string stage in new[] { "engine start", "load: read the weights", "load: ONNX Runtime U-Net (export + graph optimisation)",
                     "load: ONNX Runtime text encoder", "load: ONNX Runtime VAE decoder", "generate: text encoder", "generate: denoising (2 U-Net calls)",
                     "generate: VAE decode", "write the PNG", "total, process start to PNG" })
            Assert.Contains($"timing: {stage}", r.Err);
    }

    [Fact]
    public void TxtToImg_SeveralImagesIntoAFolder_NumbersThem_OrTilesAGrid()
    {
        string dir = TestEnvironment.NewTempDir();
        string[] common = ["a photo of a cat", "--model", TestEnvironment.Parity, "--steps", "1", "--seed", "3", "--n", "2", "--scheduler", "euler-a", "--out", dir];
        Assert.Equal(0, Run(["txt2img", .. common]).Code);
        Assert.Equal(new[] { "00000-3.png", "00001-3.png" }, Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Order().ToArray());
        Assert.Equal("Euler a", GenerationParameters.ReadPng(Path.Combine(dir, "00001-3.png"))!.Sampler);
        Assert.Equal(0, Run(["txt2img", .. common, "--grid"]).Code);
        using var grid = ImageIO.Load(Path.Combine(dir, "00002-grid-3.png"));
        Assert.Equal(new long[] { 3, 36, 70 }, grid.shape); // 2 cells of 32 with 2 px padding
    }

    [Fact]
    public void ImgToImg_WritesTheImageWithItsStrength()
    {
        string dir = TestEnvironment.NewTempDir();
        string input = Path.Combine(dir, "in.png");
        using (var image = zeros(3, 40, 40)) ImageIO.SavePng(image, input);
        string png = Path.Combine(dir, "out.png");
        var r = Run("img2img", input, "a photo of a cat", "--model", TestEnvironment.Parity, "--strength", "0.5", "--steps", "2", "--seed", "2", "--out", png);
        Assert.True(r.Code == 0, r.Err);
        GenerationParameters p = GenerationParameters.ReadPng(png)!;
        Assert.Equal((32, 32), (p.Width, p.Height)); // resized to the model's size
        Assert.Contains(new KeyValuePair<string, string>("Denoising strength", "0.5"), p.Extras!);
    }

    [Fact]
    public void MissingModel_ExitsTwo_WithOneLine()
    {
        string missing = Path.Combine(TestEnvironment.NewTempDir(), "none");
        var r = Run("txt2img", "a cat", "--model", missing);
        Assert.Equal(2, r.Code);
        Assert.Contains(missing, r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void DefaultModel_GeneratesWithoutModelOption_OrSaysWhereItIsMissing()
    {
        string? shipped = null;
        try { shipped = GenerationOptions.FindModel(null); } catch (DirectoryNotFoundException) { }
        if (shipped is null)
        {
            // A checkout without weights/emoji-64 (e.g. a sparse clone): one line naming the folder and what to do.
            var missing = Run("txt2img", "a cat");
            Assert.Equal(2, missing.Code);
            Assert.Matches(@"^error: no model at .*weights.emoji-64; train one \(see README\) or pass --model\s*$", missing.Err);
            return;
        }
        string png = Path.Combine(TestEnvironment.NewTempDir(), "cat.png");
        var r = Run("txt2img", "a cat", "--steps", "3", "--seed", "5", "--out", png);
        Assert.True(r.Code == 0, r.Err);
        using var image = ImageIO.Load(png);
        Assert.Equal(new long[] { 3, 64, 64 }, image.shape);
        Assert.Contains("Model: emoji-64", PngText.Get(File.ReadAllBytes(png), "parameters"));
    }

    [Fact]
    public void Bf16ThatWouldMakeWrongImages_ExitsTwo_SayingToUseFp32()
    {
        using var scope = NewDisposeScope();
        // The parity pipeline with a U-Net that bf16 cannot carry on any CPU (as in PipelineLoadTests): conv_norm_out adds
        // 1000, which conv_out's channel-mean-free weights cancel in float32, while bf16 loses the signal under it.
        string model = Path.Combine(TestEnvironment.NewTempDir(), "fragile");
        foreach (string file in Directory.GetFiles(TestEnvironment.Parity, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(TestEnvironment.Parity, file);
            if (relative.StartsWith("vectors", StringComparison.Ordinal)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(model, relative))!);
            File.Copy(file, Path.Combine(model, relative));
        }
        using (var unet = UNet2DConditionModel.FromPretrained(Path.Combine(model, "unet")))
        using (no_grad())
        {
            using var offset = 1000.0.ToScalar();
            var parameters = unet.state_dict();
            parameters["conv_norm_out.bias"].add_(offset, Scalars.One);
            using (var mean = parameters["conv_out.weight"].mean([1], keepdim: true)) parameters["conv_out.weight"].sub_(mean);
            unet.SavePretrained(Path.Combine(model, "unet"));
        }
        string png = Path.Combine(TestEnvironment.NewTempDir(), "x.png");
        var r = Run("txt2img", "a cat", "--model", model, "--dtype", "bf16", "--runtime", "libtorch", "--steps", "1", "--out", png);
        Assert.Equal(2, r.Code);
        Assert.StartsWith("error: bfloat16 refused, it would make wrong images: the U-Net's output in bf16 vs float32", r.Err);
        Assert.Contains("Use float32 (--dtype fp32)", r.Err);
        Assert.False(File.Exists(png));
    }

    [Fact]
    public void EmptyPrompt_ExitsTwo()
    {
        var r = Run("txt2img", "  ", "--model", TestEnvironment.Parity);
        Assert.Equal(2, r.Code);
        Assert.Contains("the prompt is empty", r.Err);
    }

    [Fact]
    public void SizeNotAMultiple_ExitsTwo_NamingTheValueAndTheMultiple()
    {
        var r = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--size", "30x32", "--steps", "1");
        Assert.Equal(2, r.Code);
        Assert.Contains("width 30 is not a positive multiple of 4", r.Err);
    }

    [Fact]
    public void HugeSize_SuggestsOnlySizesThatExist()
    {
        var r = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--size", "2147483647", "--steps", "1");
        Assert.Equal(2, r.Code);
        Assert.Contains("width 2147483647 is not a positive multiple of 4", r.Err);
        Assert.Contains("expected e.g. 2147483644", r.Err);
        Assert.DoesNotContain("-2147483648", r.Err);
    }

    [Theory]
    [InlineData("x.jpg")]
    [InlineData("shots/x.JPEG")]
    [InlineData("x.webp")]
    public void OutWithAnotherImageExtension_IsRefused_NotMadeAFolder(string name)
    {
        string dir = TestEnvironment.NewTempDir();
        string output = Path.Combine(dir, name);
        var r = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, "--size", "32", "--steps", "1", "--out", output);
        Assert.Equal(2, r.Code);
        Assert.Contains($"--out must be a .png file or a folder; got '{output}'", r.Err);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Theory]
    [InlineData("--size", "big", "--size must be N or WIDTHxHEIGHT")]
    [InlineData("--scheduler", "plms", "--scheduler must be one of")]
    [InlineData("--dtype", "fp16", "--dtype must be fp32 or bf16; got 'fp16'")]
    [InlineData("--runtime", "cuda", "--runtime must be auto, onnxruntime or libtorch; got 'cuda'")]
    public void BadOptionValue_IsRejected_WithTheValue(string option, string value, string message)
    {
        var r = Run("txt2img", "a cat", "--model", TestEnvironment.Parity, option, value);
        Assert.NotEqual(0, r.Code);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void Runtimes_GiveTheSameImage_AndBf16OnOnnxRuntimeIsRefused()
    {
        using var scope = NewDisposeScope();
        string dir = TestEnvironment.NewTempDir();
        string[] common = ["txt2img", "a photo of a cat", "--model", TestEnvironment.Parity, "--size", "32", "--steps", "2", "--seed", "5"];
        Assert.Equal(0, Run([.. common, "--runtime", "libtorch", "--out", Path.Combine(dir, "torch.png")]).Code);
        Assert.Equal(0, Run([.. common, "--out", Path.Combine(dir, "auto.png")]).Code);   // auto: ONNX Runtime for fp32
        using var a = ImageIO.Load(Path.Combine(dir, "torch.png"));
        using var b = ImageIO.Load(Path.Combine(dir, "auto.png"));
        Assert.True(a.sub(b).abs().max().item<float>() <= 2 / 255f + 1e-6f);   // equal within float32 rounding: one 8-bit level at most (2/255 in [-1, 1])
        var r = Run([.. common, "--dtype", "bf16", "--runtime", "onnxruntime"]);
        Assert.NotEqual(0, r.Code);
        Assert.Contains("BFloat16 with Runtime OnnxRuntime", r.Err);
    }

    [Fact]
    public void OnnxInt8_WritesAnImage_AndIsRefusedWithLibTorchOrBf16()
    {
        string dir = TestEnvironment.NewTempDir();
        string[] common = ["txt2img", "a photo of a cat", "--model", TestEnvironment.Parity, "--size", "32", "--steps", "2", "--seed", "5", "--no-onnx-cache"];
        var ok = Run([.. common, "--onnx-int8", "--out", Path.Combine(dir, "int8.png")]);
        Assert.True(ok.Code == 0, ok.Err);
        Assert.True(File.Exists(Path.Combine(dir, "int8.png")));
        var torch = Run([.. common, "--onnx-int8", "--runtime", "libtorch"]);
        Assert.Equal(CommandRunner.UserError, torch.Code);
        Assert.Contains("--onnx-int8 runs the U-Net on ONNX Runtime; it cannot be combined with --runtime libtorch", torch.Err);
        var bf16 = Run([.. common, "--onnx-int8", "--dtype", "bf16"]);
        Assert.Equal(CommandRunner.UserError, bf16.Code);
        Assert.Contains("--onnx-int8 cannot be combined with --dtype bf16", bf16.Err);
    }

    static string Real => Path.Combine(TestEnvironment.Fixtures, "realformats");

    [Fact]
    public void SingleFile_WithConfigAndLora_WritesTheLoraIntoTheParameters()
    {
        string png = Path.Combine(TestEnvironment.NewTempDir(), "one.png");
        var r = Run("txt2img", "a cat", "--model", Path.Combine(Real, "tiny-sd15.safetensors"), "--config", Path.Combine(Real, "tiny-sd15"),
            "--lora", Path.Combine(Real, "lora-kohya.safetensors") + ":0.8", "--steps", "2", "--seed", "1", "--out", png);
        Assert.True(r.Code == 0, r.Err);
        GenerationParameters p = GenerationParameters.ReadPng(png)!;
        Assert.Equal("a cat <lora:lora-kohya:0.8>", p.Prompt);
        Assert.Equal("tiny-sd15", p.Model);
    }

    [Fact]
    public void SingleFile_WithoutConfig_ExitsTwo_NamingTheTokenizer()
    {
        var r = Run("txt2img", "a cat", "--model", Path.Combine(Real, "tiny-sd15.safetensors"), "--steps", "1");
        Assert.Equal(2, r.Code);
        Assert.Contains("tokenizer", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void MissingLora_ExitsTwo_NamingIt()
    {
        var r = Run("txt2img", "a cat", "--model", Path.Combine(Real, "tiny-sd15"), "--lora", "nowhere.safetensors:0.5", "--steps", "1");
        Assert.Equal(2, r.Code);
        Assert.Contains("nowhere.safetensors", r.Err);
    }
}

/// <summary><c>latent convert</c> in-process.</summary>
[Collection(InProcessCli.Collection)]
public class ConvertCommandTests
{
    static string Real => Path.Combine(TestEnvironment.Fixtures, "realformats");

    [Fact]
    public void Convert_SingleFileToFp16Folder_AndBack()
    {
        string dir = TestEnvironment.NewTempDir();
        string folder = Path.Combine(dir, "model"), file = Path.Combine(dir, "model.safetensors");
        var r = InProcessCli.Run("convert", Path.Combine(Real, "tiny-sd15.safetensors"), folder, "--config", Path.Combine(Real, "tiny-sd15"), "--dtype", "fp16");
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(Path.Combine(folder, "model_index.json")));
        r = InProcessCli.Run("convert", folder, file);
        Assert.True(r.Code == 0, r.Err);
        using var st = Latent.Core.IO.SafeTensors.Open(file);
        Assert.Contains("model.diffusion_model.input_blocks.1.1.proj_in.weight", st.Keys);
    }

    [Fact]
    public void Convert_MissingInput_ExitsTwo()
    {
        var r = InProcessCli.Run("convert", "nowhere.safetensors", "out");
        Assert.Equal(2, r.Code);
        Assert.Contains("nowhere.safetensors", r.Err);
    }
}
