using static TorchSharp.torch;

namespace Latent.Core.Training;

/// <summary>The dtype of the exported <c>diffusion_pytorch_model.safetensors</c> (the model always trains in float32).</summary>
public enum ExportPrecision
{
    /// <summary>Exact weights, twice the size.</summary>
    Float32,

    /// <summary>Half the size; 11 significant bits, ample for VAE weights (all far below fp16's 65504 limit).</summary>
    Float16,

    /// <summary>Half the size; only 8 significant bits, so reconstructions move more than with Float16.</summary>
    BFloat16,
}

/// <summary>Maps <see cref="ExportPrecision"/> to torch dtypes.</summary>
public static class ExportPrecisionExtensions
{
    /// <summary>The torch dtype of <paramref name="precision"/>.</summary>
    public static ScalarType ToScalarType(this ExportPrecision precision) => precision switch
    {
        ExportPrecision.Float32 => ScalarType.Float32,
        ExportPrecision.Float16 => ScalarType.Float16,
        ExportPrecision.BFloat16 => ScalarType.BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "expected Float32, Float16 or BFloat16"),
    };
}
