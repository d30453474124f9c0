using System.Text.Json.Serialization;
using Latent.Core.Config;

namespace Latent.Core.Tests.Config;

/// <summary>How betas are laid out over the training steps (diffusers' beta_schedule).</summary>
public enum ExampleBetaSchedule
{
    /// <summary>"linear".</summary>
    Linear,
    /// <summary>"scaled_linear".</summary>
    ScaledLinear,
    /// <summary>"squaredcos_cap_v2", named explicitly.</summary>
    [JsonStringEnumMemberName("squaredcos_cap_v2")] SquaredCosCapV2,
}

/// <summary>What the network predicts (diffusers' prediction_type).</summary>
public enum ExamplePredictionType
{
    /// <summary>"epsilon".</summary>
    Epsilon,
    /// <summary>"sample".</summary>
    Sample,
    /// <summary>"v_prediction".</summary>
    VPrediction,
}

/// <summary>How inference timesteps are spaced (diffusers' timestep_spacing).</summary>
public enum ExampleTimestepSpacing
{
    /// <summary>"linspace".</summary>
    Linspace,
    /// <summary>"leading".</summary>
    Leading,
    /// <summary>"trailing".</summary>
    Trailing,
}

/// <summary>A test-local DDIM scheduler config, declared the way the model issues will declare theirs.</summary>
public sealed record ExampleSchedulerConfig : DiffusersConfig
{
    /// <summary>Training steps T.</summary>
    [JsonPropertyName("num_train_timesteps")] public int NumTrainTimesteps { get; init; } = 1000;

    /// <summary>beta_1.</summary>
    [JsonPropertyName("beta_start")] public double BetaStart { get; init; } = 0.0001;

    /// <summary>beta_T.</summary>
    [JsonPropertyName("beta_end")] public double BetaEnd { get; init; } = 0.02;

    /// <summary>The beta schedule.</summary>
    [JsonPropertyName("beta_schedule")] public ExampleBetaSchedule BetaSchedule { get; init; } = ExampleBetaSchedule.Linear;

    /// <summary>Explicit betas, or null to compute them from the schedule.</summary>
    [JsonPropertyName("trained_betas")] public double[]? TrainedBetas { get; init; }

    /// <summary>Whether to clip the predicted x_0.</summary>
    [JsonPropertyName("clip_sample")] public bool ClipSample { get; init; } = true;

    /// <summary>The clip range for x_0.</summary>
    [JsonPropertyName("clip_sample_range")] public double ClipSampleRange { get; init; } = 1.0;

    /// <summary>Whether alpha_bar before the first step is 1.</summary>
    [JsonPropertyName("set_alpha_to_one")] public bool SetAlphaToOne { get; init; } = true;

    /// <summary>Offset added to inference timesteps.</summary>
    [JsonPropertyName("steps_offset")] public int StepsOffset { get; init; }

    /// <summary>What the network predicts.</summary>
    [JsonPropertyName("prediction_type")] public ExamplePredictionType PredictionType { get; init; }

    /// <summary>Dynamic thresholding on/off.</summary>
    [JsonPropertyName("thresholding")] public bool Thresholding { get; init; }

    /// <summary>Dynamic thresholding percentile.</summary>
    [JsonPropertyName("dynamic_thresholding_ratio")] public double DynamicThresholdingRatio { get; init; } = 0.995;

    /// <summary>Dynamic thresholding ceiling.</summary>
    [JsonPropertyName("sample_max_value")] public double SampleMaxValue { get; init; } = 1.0;

    /// <summary>Timestep spacing.</summary>
    [JsonPropertyName("timestep_spacing")] public ExampleTimestepSpacing TimestepSpacing { get; init; } = ExampleTimestepSpacing.Leading;

    /// <summary>Zero terminal SNR rescaling.</summary>
    [JsonPropertyName("rescale_betas_zero_snr")] public bool RescaleBetasZeroSnr { get; init; }
}

/// <summary>A test-local VAE config with an array, a double and no explicit names (snake_case by policy).</summary>
public sealed record ExampleVaeConfig : DiffusersConfig
{
    /// <summary>Channels per level.</summary>
    [JsonPropertyName("block_out_channels")] public int[] BlockOutChannels { get; init; } = [64, 128];

    /// <summary>Latent scale; named by the snake_case policy (scaling_factor).</summary>
    public double ScalingFactor { get; init; } = 0.18215;

    /// <summary>Latent channels; named by the snake_case policy (latent_channels).</summary>
    public int LatentChannels { get; init; } = 4;

    /// <summary>Whether to run in float32.</summary>
    [JsonPropertyName("force_upcast")] public bool ForceUpcast { get; init; } = true;
}

/// <summary>A test-local text-encoder config.</summary>
public sealed record ExampleTextConfig : TransformersConfig
{
    /// <summary>Width D.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 512;

    /// <summary>LayerNorm epsilon.</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
}
