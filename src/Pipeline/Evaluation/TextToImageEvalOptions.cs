using Latent.Schedulers;

namespace Latent.Pipeline.Evaluation;

/// <summary>What <see cref="TextToImageEvaluator"/> generates: the prompts, seeds, guidance scales and sampler.</summary>
public sealed record TextToImageEvalOptions
{
    /// <summary>The prompts, none empty; each is also a candidate caption of the fidelity score.</summary>
    public required IReadOnlyList<string> Prompts { get; init; }

    /// <summary>The classifier-free guidance scales to compare (the 1, 3 and 7.5; 1 is no guidance).</summary>
    public IReadOnlyList<double> GuidanceScales { get; init; } = [1.0, 3.0, 7.5];

    /// <summary>Images per prompt and scale: seeds <see cref="Seed"/>, <see cref="Seed"/> + 1, ...</summary>
    public int SeedsPerPrompt { get; init; } = 2;

    /// <summary>Denoising steps of every image.</summary>
    public int Steps { get; init; } = 30;

    /// <summary>The sampler (DDIM, deterministic with eta 0, as the benchmark).</summary>
    public SchedulerKind Scheduler { get; init; } = SchedulerKind.Ddim;

    /// <summary>Prompts per pipeline call; the batch composition is part of what a seed reproduces.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>A folder that keeps the generated images as PNGs (<c>cfg-{scale}/seed-{i}/{prompt:D4}.png</c>): a batch whose
    /// files all exist is read instead of generated, so a second scorer (e.g. a newly trained judge) can score the same
    /// images without generating them again. Null: generate everything, keep nothing. The files hold 8-bit pixels, so
    /// scores of read images can differ from in-memory ones in the last digits; the same folder gives the same scores.</summary>
    public string? ImageCache { get; init; }

    /// <summary>The first seed.</summary>
    public long Seed { get; init; }

    /// <summary>Issue 25: the classifier guidance of the prompts [first, first + count) of one batch (null: none); the
    /// images of <see cref="ImageCache"/> do not record it, so compare with and without it in separate folders.</summary>
    public Func<int, int, Guidance.ClassifierGuidance?>? ClassifierGuidance { get; init; }

    /// <summary>Checks every value; the message names the value and what is expected.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        if (Prompts is null || Prompts.Count == 0) throw new ArgumentException("no prompts; expected at least one.", nameof(Prompts));
        for (int i = 0; i < Prompts.Count; i++)
            if (string.IsNullOrWhiteSpace(Prompts[i]))
                throw new ArgumentException($"prompt {i + 1} is empty; expected text.", nameof(Prompts));
        if (GuidanceScales is null || GuidanceScales.Count == 0)
            throw new ArgumentException("no guidance scales; expected at least one.", nameof(GuidanceScales));
        foreach (double g in GuidanceScales)
            if (!(g >= 0) || double.IsInfinity(g))
                throw new ArgumentException($"guidance scale {g} is not a finite number ≥ 0.", nameof(GuidanceScales));
        if (SeedsPerPrompt < 1) throw new ArgumentException($"SeedsPerPrompt is {SeedsPerPrompt}; expected ≥ 1.", nameof(SeedsPerPrompt));
        if (Steps < 1) throw new ArgumentException($"Steps is {Steps}; expected ≥ 1.", nameof(Steps));
        if (BatchSize < 1) throw new ArgumentException($"BatchSize is {BatchSize}; expected ≥ 1.", nameof(BatchSize));
        if (Seed < 0) throw new ArgumentException($"Seed is {Seed}; expected ≥ 0.", nameof(Seed));
    }
}
