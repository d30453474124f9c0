using System.Text.Json.Serialization;

namespace Latent.Core.Training;

/// <summary>
/// The dtype a trainer computes its forward and backward passes in; the weights, optimizer state, EMA and checkpoints
/// stay float32 either way (accelerate's <c>mixed_precision</c> setting, whose names the JSON keeps).
/// </summary>
public enum MixedPrecision
{
    /// <summary>Everything in float32 (the default).</summary>
    [JsonStringEnumMemberName("no")]
    No,

    /// <summary>Forward and backward in bfloat16 on a copy of the float32 master weights (<see cref="BFloat16Compute{TModel}"/>).
    /// bf16 keeps float32's exponent range, so no loss scaling is needed, but only 8 significant bits.</summary>
    [JsonStringEnumMemberName("bf16")]
    BFloat16,
}
