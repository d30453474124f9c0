using System.Text.Json.Serialization;
using Latent.Core.Config;

namespace Latent.Schedulers;

/// <summary>
/// A diffusers <c>scheduler_config.json</c> for DDPMScheduler, DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler,
/// EulerAncestralDiscreteScheduler or DPMSolverMultistepScheduler (diffusers 0.21), with diffusers' key names. <see cref="DiffusersConfig.ClassName"/>
/// says which algorithm; <see cref="NoiseSchedulers.Create(SchedulerConfig, double)"/> builds it.
/// </summary>
/// <remarks>
/// <para>Keys that all six classes share and default alike are plain properties. Keys that only some classes have, or
/// that they default differently (<c>timestep_spacing</c> is "leading" for DDPM/DDIM/PNDM and "linspace" for Euler and
/// DPM-Solver), are nullable: null means "the class's default" (each scheduler documents its defaults), and a null key is
/// not written, which diffusers reads as that same default. <see cref="ForClass"/> gives a class's complete default
/// config, key for key as diffusers 0.21 writes it. Unknown keys are kept and written back.</para>
/// <para>Read with <c>ConfigFile.Read&lt;SchedulerConfig&gt;(path)</c> or <see cref="NoiseSchedulers.Load"/>; write with
/// <c>ConfigFile.Write(path, config)</c>.</para>
/// </remarks>
public sealed record SchedulerConfig : DiffusersConfig
{
    /// <summary>diffusers' class name of the DDPM sampler.</summary>
    public const string DdpmClassName = "DDPMScheduler";

    /// <summary>diffusers' class name of the DDIM sampler.</summary>
    public const string DdimClassName = "DDIMScheduler";

    /// <summary>diffusers' class name of the PNDM/PLMS sampler (SD 1.x folders' own).</summary>
    public const string PndmClassName = "PNDMScheduler";

    /// <summary>diffusers' class name of the Euler sampler.</summary>
    public const string EulerClassName = "EulerDiscreteScheduler";

    /// <summary>diffusers' class name of the ancestral Euler sampler.</summary>
    public const string EulerAncestralClassName = "EulerAncestralDiscreteScheduler";

    /// <summary>diffusers' class name of the multistep DPM-Solver(++) sampler.</summary>
    public const string DpmSolverMultistepClassName = "DPMSolverMultistepScheduler";

    /// <summary>The class names this library implements.</summary>
    public static IReadOnlyList<string> SupportedClassNames { get; } =
        [DdpmClassName, DdimClassName, PndmClassName, EulerClassName, EulerAncestralClassName, DpmSolverMultistepClassName];

    /// <summary>Training steps T (1000 for every SD model; diffusers' default).</summary>
    [JsonPropertyName("num_train_timesteps")] public int NumTrainTimesteps { get; init; } = 1000;

    /// <summary>beta at t = 0 (0.0001 is the DDPM paper's value and diffusers' default; SD uses 0.00085).</summary>
    [JsonPropertyName("beta_start")] public double BetaStart { get; init; } = 0.0001;

    /// <summary>beta at t = T-1 (0.02 is the DDPM paper's value and diffusers' default; SD uses 0.012).</summary>
    [JsonPropertyName("beta_end")] public double BetaEnd { get; init; } = 0.02;

    /// <summary>How beta_t is laid out (diffusers' default "linear"; SD uses "scaled_linear").</summary>
    [JsonPropertyName("beta_schedule")] public BetaSchedule BetaSchedule { get; init; } = BetaSchedule.Linear;

    /// <summary>Explicit beta_t, one per training step, replacing the schedule; null (the default) computes them. Always written, as diffusers does.</summary>
    [JsonPropertyName("trained_betas")] public double[]? TrainedBetas { get; init; }

    /// <summary>What the network predicts (diffusers' default "epsilon", as SD 1.x; SD 2.x 768 uses "v_prediction").</summary>
    [JsonPropertyName("prediction_type")] public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;

    /// <summary>Added to "leading" timesteps (diffusers' default 0; SD uses 1, so 50 steps run 981 ... 1).</summary>
    [JsonPropertyName("steps_offset")] public int StepsOffset { get; init; }

    /// <summary>Inference timestep spacing; null: the class default ("leading" for DDPM/DDIM/PNDM, "linspace" for Euler and DPM-Solver).</summary>
    [JsonPropertyName("timestep_spacing"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TimestepSpacing? TimestepSpacing { get; init; }

    /// <summary>DDPM/DDIM: clamp the predicted x_0 to [-clip_sample_range, clip_sample_range]; null: true (diffusers' default, for pixel-space models; SD sets false).</summary>
    [JsonPropertyName("clip_sample"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? ClipSample { get; init; }

    /// <summary>DDPM/DDIM: the bound of <see cref="ClipSample"/>; null: 1.0 (images in [-1, 1]).</summary>
    [JsonPropertyName("clip_sample_range"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ClipSampleRange { get; init; }

    /// <summary>DDPM/DDIM/DPM-Solver: dynamic thresholding of x_0 (Imagen, Saharia et al. 2022, section 2.3); null: false (unsuitable for latents).</summary>
    [JsonPropertyName("thresholding"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Thresholding { get; init; }

    /// <summary>The percentile p of |x_0| that dynamic thresholding uses as its bound s; null: 0.995 (Imagen's value).</summary>
    [JsonPropertyName("dynamic_thresholding_ratio"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? DynamicThresholdingRatio { get; init; }

    /// <summary>The ceiling of the dynamic threshold s; null: 1.0.</summary>
    [JsonPropertyName("sample_max_value"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? SampleMaxValue { get; init; }

    /// <summary>DDPM/DPM-Solver: the reverse variance; null: "fixed_small" for DDPM, none for DPM-Solver (which only reads "learned"/"learned_range" to drop the variance channels).</summary>
    [JsonPropertyName("variance_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public VarianceType? VarianceType { get; init; }

    /// <summary>DDIM/PNDM: alpha_bar before the first step is 1 (true) or alpha_bar_0 (false, as SD does); null: true for DDIM, false for PNDM.</summary>
    [JsonPropertyName("set_alpha_to_one"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? SetAlphaToOne { get; init; }

    /// <summary>PNDM: skip the Runge-Kutta warm-up and start with PLMS (SD's configs set true); null: false.</summary>
    [JsonPropertyName("skip_prk_steps"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? SkipPrkSteps { get; init; }

    /// <summary>DDIM: rescale betas to zero terminal SNR (Lin et al. 2023, Algorithm 1); null: false.</summary>
    [JsonPropertyName("rescale_betas_zero_snr"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? RescaleBetasZeroSnr { get; init; }

    /// <summary>DPM-Solver: the order of the multistep solver (1 or 2 here; diffusers also has 3); null: 2.</summary>
    [JsonPropertyName("solver_order"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? SolverOrder { get; init; }

    /// <summary>DPM-Solver: the algorithm; null: "dpmsolver++".</summary>
    [JsonPropertyName("algorithm_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DpmSolverAlgorithmType? AlgorithmType { get; init; }

    /// <summary>DPM-Solver: the second-order correction; null: "midpoint".</summary>
    [JsonPropertyName("solver_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DpmSolverType? SolverType { get; init; }

    /// <summary>DPM-Solver: first-order steps at the end when there are fewer than 15 steps (stabler); null: true.</summary>
    [JsonPropertyName("lower_order_final"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? LowerOrderFinal { get; init; }

    /// <summary>DPM-Solver/Euler: Karras et al. (2022) noise levels (rho = 7) instead of the spacing; null: false.</summary>
    [JsonPropertyName("use_karras_sigmas"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? UseKarrasSigmas { get; init; }

    /// <summary>Euler: how timesteps map to sigmas; null: "linear".</summary>
    [JsonPropertyName("interpolation_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public InterpolationType? InterpolationType { get; init; }

    /// <summary>DPM-Solver: the smallest log-SNR lambda_t the timesteps may reach (for the cosine schedule); null: -infinity (no clipping).</summary>
    [JsonPropertyName("lambda_min_clipped"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LambdaMinClipped { get; init; }

    /// <summary>
    /// The complete default config of <paramref name="className"/>, with exactly the keys diffusers 0.21 writes for it
    /// (DPMSolverMultistepScheduler's <c>variance_type: null</c> is left out; diffusers reads the absent key alike).
    /// </summary>
    /// <param name="className">One of <see cref="SupportedClassNames"/>.</param>
    /// <returns>The config, with <see cref="DiffusersConfig.ClassName"/> set.</returns>
    /// <exception cref="ArgumentException"><paramref name="className"/> is not a supported class.</exception>
    public static SchedulerConfig ForClass(string className) => className switch
    {
        DdpmClassName => new SchedulerConfig
        {
            ClassName = className, VarianceType = Schedulers.VarianceType.FixedSmall, ClipSample = true,
            Thresholding = false, DynamicThresholdingRatio = 0.995, ClipSampleRange = 1.0, SampleMaxValue = 1.0,
            TimestepSpacing = Schedulers.TimestepSpacing.Leading,
        },
        DdimClassName => new SchedulerConfig
        {
            ClassName = className, ClipSample = true, SetAlphaToOne = true, Thresholding = false,
            DynamicThresholdingRatio = 0.995, ClipSampleRange = 1.0, SampleMaxValue = 1.0,
            TimestepSpacing = Schedulers.TimestepSpacing.Leading, RescaleBetasZeroSnr = false,
        },
        PndmClassName => new SchedulerConfig
        {
            ClassName = className, SkipPrkSteps = false, SetAlphaToOne = false,
            TimestepSpacing = Schedulers.TimestepSpacing.Leading,
        },
        EulerClassName => new SchedulerConfig
        {
            ClassName = className, InterpolationType = Schedulers.InterpolationType.Linear, UseKarrasSigmas = false,
            TimestepSpacing = Schedulers.TimestepSpacing.Linspace,
        },
        EulerAncestralClassName => new SchedulerConfig
        {
            ClassName = className, TimestepSpacing = Schedulers.TimestepSpacing.Linspace,
        },
        DpmSolverMultistepClassName => new SchedulerConfig
        {
            ClassName = className, SolverOrder = 2, Thresholding = false, DynamicThresholdingRatio = 0.995,
            SampleMaxValue = 1.0, AlgorithmType = DpmSolverAlgorithmType.DpmSolverPlusPlus, SolverType = DpmSolverType.Midpoint,
            LowerOrderFinal = true, UseKarrasSigmas = false, LambdaMinClipped = double.NegativeInfinity,
            TimestepSpacing = Schedulers.TimestepSpacing.Linspace,
        },
        _ => throw new ArgumentException(
            $"Scheduler class '{className}' is not supported; expected one of {string.Join(", ", SupportedClassNames)}.",
            nameof(className)),
    };

    /// <summary>
    /// This config for another scheduler class, as diffusers' <c>OtherScheduler.from_config(config)</c> does: the keys
    /// the target class accepts keep their values, the others are dropped, the target's own keys that this config lacks
    /// take the target's defaults. Unknown keys are dropped too (diffusers does not pass them on).
    /// </summary>
    /// <param name="className">One of <see cref="SupportedClassNames"/>.</param>
    /// <returns>A config whose <see cref="DiffusersConfig.ClassName"/> is <paramref name="className"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="className"/> is not a supported class.</exception>
    public SchedulerConfig ConvertTo(string className)
    {
        SchedulerConfig d = ForClass(className);
        return d with
        {
            ExtensionData = [],
            DiffusersVersion = DiffusersVersion,
            NumTrainTimesteps = NumTrainTimesteps,
            BetaStart = BetaStart,
            BetaEnd = BetaEnd,
            BetaSchedule = BetaSchedule,
            TrainedBetas = TrainedBetas,
            PredictionType = PredictionType,
            StepsOffset = StepsOffset,
            TimestepSpacing = Keep(d.TimestepSpacing, TimestepSpacing),
            ClipSample = Keep(d.ClipSample, ClipSample),
            ClipSampleRange = Keep(d.ClipSampleRange, ClipSampleRange),
            Thresholding = Keep(d.Thresholding, Thresholding),
            DynamicThresholdingRatio = Keep(d.DynamicThresholdingRatio, DynamicThresholdingRatio),
            SampleMaxValue = Keep(d.SampleMaxValue, SampleMaxValue),
            // DPM-Solver's variance_type defaults to None, so it has no entry in its defaults: keep a learned type.
            VarianceType = className == DpmSolverMultistepClassName
                ? VarianceType is Schedulers.VarianceType.Learned or Schedulers.VarianceType.LearnedRange ? VarianceType : null
                : Keep(d.VarianceType, VarianceType),
            SetAlphaToOne = Keep(d.SetAlphaToOne, SetAlphaToOne),
            SkipPrkSteps = Keep(d.SkipPrkSteps, SkipPrkSteps),
            RescaleBetasZeroSnr = Keep(d.RescaleBetasZeroSnr, RescaleBetasZeroSnr),
            SolverOrder = Keep(d.SolverOrder, SolverOrder),
            AlgorithmType = Keep(d.AlgorithmType, AlgorithmType),
            SolverType = Keep(d.SolverType, SolverType),
            LowerOrderFinal = Keep(d.LowerOrderFinal, LowerOrderFinal),
            UseKarrasSigmas = Keep(d.UseKarrasSigmas, UseKarrasSigmas),
            InterpolationType = Keep(d.InterpolationType, InterpolationType),
            LambdaMinClipped = Keep(d.LambdaMinClipped, LambdaMinClipped),
        };
    }

    /// <summary>The source value where the target class has the key (its default is non-null) and the source sets it.</summary>
    /// <summary>
    /// Checks the values that size or define the noise schedule, so that a bad <c>scheduler_config.json</c> is refused
    /// when it is read, naming the file and the key, rather than on the first step.
    /// </summary>
    /// <param name="sourceName">The file, for the message.</param>
    /// <exception cref="ConfigException">num_train_timesteps is not in [2, <see cref="ConfigLimits.MaxTrainTimesteps"/>];
    /// trained_betas has another length or values outside [0, 1); without trained_betas, beta_start and beta_end are not finite with 0 &lt; beta_start &lt; beta_end &lt; 1 (the
    /// linear, scaled_linear and sigmoid schedules interpolate between them); steps_offset is not in [0, num_train_timesteps).</exception>
    public void Validate(string sourceName = nameof(SchedulerConfig))
    {
        if (NumTrainTimesteps < 2)
            throw new ConfigException(sourceName, "num_train_timesteps", $"{NumTrainTimesteps}; expected at least 2.");
        ConfigLimits.AtMost(sourceName, "num_train_timesteps", NumTrainTimesteps, ConfigLimits.MaxTrainTimesteps);
        if (TrainedBetas is { } trained)
        {
            if (trained.Length != NumTrainTimesteps)
                throw new ConfigException(sourceName, "trained_betas", $"has {trained.Length} values; expected num_train_timesteps = {NumTrainTimesteps}.");
            int bad = Array.FindIndex(trained, b => !(b >= 0 && b < 1));
            if (bad >= 0)
                throw new ConfigException(sourceName, "trained_betas", $"[{bad}] = {trained[bad]}; expected values in [0, 1).");
        }
        else if (BetaSchedule != BetaSchedule.SquaredCosCapV2)
        {
            if (!double.IsFinite(BetaStart) || !(BetaStart > 0 && BetaStart < 1))
                throw new ConfigException(sourceName, "beta_start", $"{BetaStart} is not in (0, 1); expected e.g. 0.00085.");
            if (!double.IsFinite(BetaEnd) || !(BetaEnd > BetaStart && BetaEnd < 1))
                throw new ConfigException(sourceName, "beta_end",
                    $"{BetaEnd} is not in (beta_start = {BetaStart}, 1); expected a value above beta_start and below 1, e.g. 0.012.");
        }
        if (StepsOffset < 0 || StepsOffset >= NumTrainTimesteps)
            throw new ConfigException(sourceName, "steps_offset",
                $"{StepsOffset} is not in [0, num_train_timesteps = {NumTrainTimesteps}); expected 0 or 1.");
    }

    static T? Keep<T>(T? targetDefault, T? source) where T : struct =>
        targetDefault is null ? null : source ?? targetDefault;
}
