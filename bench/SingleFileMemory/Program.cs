using Latent.Core.Config;
using Latent.Core.Engine;
using Latent.TextEncoder;
using Latent.UNetCrossAttn;
using Latent.Vae;
using static TorchSharp.torch;

// latent-bench-single-file CONFIG_DIR OUT_DIR
// Builds the U-Net, VAE and text encoder that CONFIG_DIR's configs describe, with random weights (seed 0), and writes
// their weights into OUT_DIR/unet, vae and text_encoder (CONFIG_DIR's configs, tokenizer and scheduler are copied by
// bench/single_file_memory.sh): a stand-in for a downloaded SD 1.x model of the same size, which `latent convert`
// then writes as one file with the original LDM key names.
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: latent-bench-single-file CONFIG_DIR OUT_DIR");
    return 2;
}
TorchEngine.Initialize();
manual_seed(0);
string configs = args[0];
var unet = new UNet2DConditionModel(ConfigFile.Read<UNetConfig>(Path.Combine(configs, "unet", "config.json"), UNetConfig.ClassNameValue).Config);
var vae = new AutoencoderKL(ConfigFile.Read<VaeConfig>(Path.Combine(configs, "vae", "config.json"), VaeConfig.ClassNameValue).Config);
var text = new ClipTextModel(ConfigFile.Read<ClipTextConfig>(Path.Combine(configs, "text_encoder", "config.json"), ClipTextConfig.ClassName).Config);
long parameters = new nn.Module[] { unet, vae, text }.Sum(m => m.parameters().Sum(p => p.numel()));
unet.SavePretrained(Path.Combine(args[1], "unet"));
vae.SavePretrained(Path.Combine(args[1], "vae"));
text.SavePretrained(Path.Combine(args[1], "text_encoder"));
Console.WriteLine($"wrote {args[1]}: {parameters:N0} parameters");
return 0;
