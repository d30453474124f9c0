using Latent.Core.Onnx;
using Latent.Core.Config;
using Latent.Core.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.Vae;

/// <summary>
/// diffusers' <c>AutoencoderKL</c>, the Stable Diffusion VAE: an <see cref="Encoder"/> to a diagonal Gaussian posterior
/// over latents, and a <see cref="Decoder"/> back to images, with the 1x1 convs <c>quant_conv</c> and
/// <c>post_quant_conv</c> in between.
/// </summary>
/// <remarks>
/// <para>encode(x) = N(mean, exp(logvar)) with [mean, logvar] = quant_conv(encoder(x));
/// decode(z) = decoder(post_quant_conv(z)); forward(x) = decode(mode or sample of encode(x)). Latents are those
/// before <see cref="VaeConfig.ScalingFactor"/> is applied (the pipeline scales them).</para>
/// <para>Keys: <c>encoder</c>, <c>decoder</c>, <c>quant_conv</c>, <c>post_quant_conv</c>, as in diffusers' files;
/// <see cref="FromPretrained"/> loads a diffusers VAE folder strictly.</para>
/// </remarks>
public sealed class AutoencoderKL : nn.Module<Tensor, Tensor>
{
    /// <summary>The weights file of a diffusers model folder.</summary>
    public const string WeightsFileName = "diffusion_pytorch_model.safetensors";

    /// <summary>The config file of a diffusers model folder.</summary>
    public const string ConfigFileName = PretrainedFolder.ConfigFileName;

    /// <summary>The diffusers version our files follow, written as <c>_diffusers_version</c> when the config has none.</summary>
    public const string DiffusersVersion = "0.21.4";

    private readonly Encoder encoder;
    private readonly Decoder decoder;
    private readonly Conv2d quant_conv;
    private readonly Conv2d post_quant_conv;

    /// <summary>Creates the VAE with freshly initialised weights.</summary>
    /// <param name="config">The config; validated here.</param>
    /// <exception cref="ConfigException">The config breaks a rule of <see cref="VaeConfig.Validate"/>.</exception>
    public AutoencoderKL(VaeConfig config) : base(nameof(AutoencoderKL))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        encoder = new Encoder("encoder", config);
        decoder = new Decoder("decoder", config);
        quant_conv = nn.Conv2d(2 * config.LatentChannels, 2 * config.LatentChannels, 1);
        post_quant_conv = nn.Conv2d(config.LatentChannels, config.LatentChannels, 1);
        RegisterComponents();
    }

    /// <summary>The config the model was built from (unknown keys of a loaded file included).</summary>
    public VaeConfig Config { get; }

    /// <summary>Encodes images to the latent posterior.</summary>
    /// <param name="x">[B, in_channels, H, W] images in [-1, 1]; H and W multiples of <see cref="VaeConfig.DownsampleFactor"/>.</param>
    /// <returns>The posterior over [B, latent, H / f, W / f]; the caller disposes it.</returns>
    /// <exception cref="ArgumentException"><paramref name="x"/> has the wrong rank, channels or size.</exception>
    public DiagonalGaussianDistribution Encode(Tensor x)
    {
        // x: [B, Cin, H, W] -> moments [B, 2*latent, H/f, W/f]
        CheckInput(x, Config.InChannels, Config.DownsampleFactor, "x", "images");
        using var scope = NewDisposeScope();
        var moments = quant_conv.forward(encoder.forward(x));
        return new DiagonalGaussianDistribution(moments).MoveTensorsOut();
    }

    /// <summary>Decodes latents (unscaled: divide the U-Net's latents by the scaling factor first) to images.</summary>
    /// <param name="z">[B, latent, h, w].</param>
    /// <returns>[B, out_channels, h * f, w * f], images in about [-1, 1]; the caller owns it.</returns>
    /// <exception cref="ArgumentException"><paramref name="z"/> has the wrong rank or channels.</exception>
    public Tensor Decode(Tensor z)
    {
        // z: [B, latent, h, w] -> [B, Cout, h*f, w*f]
        CheckInput(z, Config.LatentChannels, 1, "z", "latents");
        using var scope = NewDisposeScope();
        return decoder.forward(post_quant_conv.forward(z)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Writes <see cref="Decode"/> (float32) as an ONNX model: input <c>latent_sample</c> [batch, latent, height, width],
    /// output <c>sample</c> [batch, Cout, height * f, width * f] (the names of diffusers' ONNX <c>vae_decoder</c>).
    /// </summary>
    /// <returns>The bytes of a .onnx file.</returns>
    public byte[] ExportDecoderOnnx()
    {
        // latent_sample: [B, latent, h, w] -> sample: [B, Cout, h*f, w*f]
        var g = new OnnxGraph("vae_decoder");
        string z = g.Input("latent_sample", "batch", (long)Config.LatentChannels, "height", "width");
        string x = decoder.ExportOnnx(g, "decoder", g.Conv("post_quant_conv", post_quant_conv, z));
        g.Output(x, "sample", "batch", (long)Config.OutChannels, "image_height", "image_width");
        return g.ToModel();
    }

    /// <summary>
    /// Writes <see cref="Encode"/> up to the posterior's moments (float32) as an ONNX model: input <c>sample</c>
    /// [batch, Cin, height, width], output <c>moments</c> [batch, 2 * latent, height / f, width / f] (mean, then log-variance);
    /// <see cref="DiagonalGaussianDistribution"/> takes the moments.
    /// </summary>
    /// <returns>The bytes of a .onnx file.</returns>
    public byte[] ExportEncoderOnnx()
    {
        // sample: [B, Cin, H, W] -> moments: [B, 2*latent, H/f, W/f]
        var g = new OnnxGraph("vae_encoder");
        string x = g.Input("sample", "batch", (long)Config.InChannels, "height", "width");
        string moments = g.Conv("quant_conv", quant_conv, encoder.ExportOnnx(g, "encoder", x));
        g.Output(moments, "moments", "batch", 2L * Config.LatentChannels, "latent_height", "latent_width");
        return g.ToModel();
    }

    /// <summary>Checks decoder input as <see cref="Decode"/> does (for other engines that run this VAE).</summary>
    /// <param name="z">[B, latent, h, w].</param>
    /// <exception cref="ArgumentException">The shape is wrong.</exception>
    public void CheckLatents(Tensor z) => CheckLatents(Config, z);

    /// <summary>Checks decoder input as <see cref="Decode"/> does, from the config alone (an engine that runs the VAE without building it).</summary>
    /// <param name="config">The VAE's config.</param>
    /// <param name="z">[B, latent, h, w].</param>
    /// <exception cref="ArgumentException">The shape is wrong.</exception>
    public static void CheckLatents(VaeConfig config, Tensor z) => CheckInput(z, config.LatentChannels, 1, "z", "latents");

    /// <summary>Checks encoder input as <see cref="Encode"/> does (for other engines that run this VAE).</summary>
    /// <param name="x">[B, in_channels, H, W].</param>
    /// <exception cref="ArgumentException">The shape is wrong.</exception>
    public void CheckImages(Tensor x) => CheckImages(Config, x);

    /// <summary>Checks encoder input as <see cref="Encode"/> does, from the config alone.</summary>
    /// <param name="config">The VAE's config.</param>
    /// <param name="x">[B, in_channels, H, W].</param>
    /// <exception cref="ArgumentException">The shape is wrong.</exception>
    public static void CheckImages(VaeConfig config, Tensor x) => CheckInput(x, config.InChannels, config.DownsampleFactor, "x", "images");

    /// <summary>Reconstructs images through the posterior's mode: decode(encode(x).mode()).</summary>
    /// <param name="x">[B, in_channels, H, W].</param>
    /// <returns>[B, out_channels, H, W].</returns>
    public override Tensor forward(Tensor x) => Forward(x, samplePosterior: false);

    /// <summary>Reconstructs images through the posterior's mode or a sample of it.</summary>
    /// <param name="x">[B, in_channels, H, W].</param>
    /// <param name="samplePosterior">Decode a sample z ~ q(z | x) instead of its mean.</param>
    /// <param name="generator">The random stream of the sample (null: the global one).</param>
    /// <returns>[B, out_channels, H, W]; the caller owns it.</returns>
    public Tensor Forward(Tensor x, bool samplePosterior, Generator? generator = null)
    {
        // x: [B, Cin, H, W] -> z [B, latent, H/f, W/f] -> [B, Cout, H, W]
        using var scope = NewDisposeScope();
        using var posterior = Encode(x);
        var z = samplePosterior ? posterior.Sample(generator) : posterior.Mode();
        return Decode(z).MoveToOuterDisposeScope();
    }

    /// <summary>Loads a diffusers VAE folder (<c>config.json</c> + <c>diffusion_pytorch_model.safetensors</c>), strictly.</summary>
    /// <param name="directory">The folder, e.g. a pipeline's <c>vae/</c>.</param>
    /// <returns>The model in float32 on the CPU; the caller disposes it.</returns>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="ConfigException">The config cannot be read, describes another class, or breaks a rule.</exception>
    /// <exception cref="StateDictMismatchException">A weight is missing, unexpected or mis-shaped.</exception>
    public static AutoencoderKL FromPretrained(string directory) =>
        PretrainedFolder.Load<VaeConfig, AutoencoderKL>(directory, WeightsFileName, VaeConfig.ClassNameValue,
            (config, source) => config.Validate(source), config => new AutoencoderKL(config));

    /// <summary>
    /// Writes a diffusers VAE folder: <c>diffusion_pytorch_model.safetensors</c> (each tensor in <paramref name="dtype"/>),
    /// then <c>config.json</c>, each file atomically.
    /// </summary>
    /// <param name="directory">The folder; created when missing.</param>
    /// <param name="dtype">Float32 (exact), Float16 or BFloat16 (half the size; loads back into a float32 model).</param>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not one of the three.</exception>
    public void SavePretrained(string directory, ScalarType dtype = ScalarType.Float32) =>
        PretrainedFolder.Save(this, directory, WeightsFileName,
            Config with { ClassName = VaeConfig.ClassNameValue, DiffusersVersion = Config.DiffusersVersion ?? DiffusersVersion }, dtype);

    private static void CheckInput(Tensor t, int channels, int multiple, string name, string what)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        if (t.dim() != 4 || t.shape[1] != channels || t.shape[2] % multiple != 0 || t.shape[3] % multiple != 0)
            throw new ArgumentException(
                $"AutoencoderKL expects {what} [B, {channels}, H, W] with H and W multiples of {multiple}; got shape [{string.Join(", ", t.shape)}]",
                name);
    }
}
