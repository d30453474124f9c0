using Latent.Schedulers;
using Latent.TextEncoder;
using Latent.TextEncoder.Tokenization;
using Latent.UNetCrossAttn;
using Latent.Vae;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// What <see cref="StableDiffusionPipeline.Load"/> reads before it builds any module: the three configs, the tokenizer
/// and the scheduler, and for each module how to build it. A folder's modules are built from their own files when first
/// needed (<see cref="PipelineFolder.Open"/>); a single file's are read at once (<see cref="SingleFile.SingleFileCheckpoint"/>).
/// </summary>
internal sealed record PipelineSource(
    VaeConfig VaeConfig, ClipTextConfig TextConfig, UNetConfig UNetConfig, ClipTokenizer Tokenizer, SchedulerConfig Scheduler,
    PartSource<AutoencoderKL> Vae, PartSource<ClipTextModel> TextEncoder, PartSource<UNet2DConditionModel> UNet, long UNetFloatBytes)
{
    /// <summary>The scheduler config file read, for messages; null when built-in defaults were used.</summary>
    public string? SchedulerSource { get; init; }

    /// <summary>A single file's components, all read already; each module can be read again from the file.</summary>
    public static PipelineSource From(PipelineComponents c, Func<PipelineComponents> reread)
    {
        // Reading one part again reads the whole file and keeps that part.
        static Func<T> Part<T>(Func<PipelineComponents> reread, Func<PipelineComponents, T> pick) where T : nn.Module => () =>
        {
            PipelineComponents all = reread();
            T kept = pick(all);
            foreach (nn.Module m in new nn.Module[] { all.Vae, all.TextEncoder, all.UNet })
                if (!ReferenceEquals(m, kept)) m.Dispose();
            kept.eval();
            return kept;
        };
        return new PipelineSource(c.Vae.Config, c.TextEncoder.Config, c.UNet.Config, c.Tokenizer, c.Scheduler,
            new PartSource<AutoencoderKL>(Part(reread, a => a.Vae), Files: null, c.Vae),
            new PartSource<ClipTextModel>(Part(reread, a => a.TextEncoder), Files: null, c.TextEncoder),
            new PartSource<UNet2DConditionModel>(Part(reread, a => a.UNet), Files: null, c.UNet),
            OnnxRuntimeUNet.FloatBytes(c.UNet)) { SchedulerSource = c.SchedulerSource };
    }
}

/// <summary>How to build one module.</summary>
/// <param name="Load">Reads the module from the model's files (strictly; in eval mode, float32).</param>
/// <param name="Files">A folder's component files (config and weights), which name it without building it
/// (<see cref="Ort.OnnxModelCache.FilesHash"/>); null for a single file's part.</param>
/// <param name="Built">The module when it was read already (a single file's); null when it is built on first use.</param>
internal sealed record PartSource<T>(Func<T> Load, string[]? Files, T? Built) where T : nn.Module;
