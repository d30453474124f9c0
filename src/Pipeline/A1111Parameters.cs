using Latent.Pipeline.Metadata;
using System.Globalization;
using Latent.Core.Imaging;
using Latent.Schedulers;

namespace Latent.Pipeline;

/// <summary>
/// AUTOMATIC1111's <c>parameters</c> text for each image of a call, from <see cref="GenerationSettings"/>: the metadata
/// that <c>latent txt2img</c>'s PNGs and <c>latent serve</c>'s answers carry (the pipeline itself writes no metadata).
/// </summary>
public static class A1111Parameters
{
    /// <summary>One entry per image: the prompt (with <c>&lt;lora:name:weight&gt;</c> per LoRA, as A1111 writes them), the
    /// settings, and the extras A1111 adds (<c>Eta DDIM</c>, <c>Denoising strength</c>, <c>Lora hashes</c>, and
    /// <c>Batch size</c>/<c>Batch pos</c> when the batch holds more than one image).</summary>
    /// <param name="settings">What the call ran.</param>
    /// <returns>B = prompts x images per prompt entries, in the batch's order.</returns>
    public static GenerationParameters[] For(GenerationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        GenerationRequest r = settings.Request;
        int batch = settings.BatchSize;
        string sampler = SamplerNames.For(settings.Scheduler);
        string loraSuffix = string.Concat(settings.Loras.Select(l => $" <lora:{l.Name}:{l.Weight.ToString("0.###", CultureInfo.InvariantCulture)}>"));
        var parameters = new GenerationParameters[batch];
        for (int i = 0; i < batch; i++)
        {
            var keys = new List<KeyValuePair<string, string>>();
            if (r.Eta != 0 && settings.Scheduler.ClassName == SchedulerConfig.DdimClassName)
                keys.Add(new("Eta DDIM", r.Eta.ToString("R", CultureInfo.InvariantCulture)));
            if (settings.Strength is double strength)
                keys.Add(new("Denoising strength", strength.ToString("R", CultureInfo.InvariantCulture)));
            if (settings.Loras.Count > 0)
                keys.Add(new("Lora hashes", string.Join(", ", settings.Loras.Select((l, k) => $"{l.Name}: {settings.LoraHashes[k]}"))));
            if (batch > 1)
            {
                keys.Add(new("Batch size", batch.ToString(CultureInfo.InvariantCulture)));
                keys.Add(new("Batch pos", i.ToString(CultureInfo.InvariantCulture)));
            }
            parameters[i] = new GenerationParameters(r.Prompts[i / r.ImagesPerPrompt] + loraSuffix, r.NegativePrompt, r.Steps,
                sampler, r.GuidanceScale, r.Seed, r.Width, r.Height, settings.Model, keys);
        }
        return parameters;
    }
}
