namespace Latent.Pipeline.Performance;

/// <summary>
/// Adds up the floating-point operations of a model's matrix work, layer by layer, and the parameters of the layers it
/// counted (so that a test can check the walk visited every weight of the real module).
/// </summary>
/// <remarks>
/// <para>Convention (as GEMM benchmarks and <c>latent doctor</c> count): a multiply-add is 2 FLOPs. Counted: convolutions,
/// linear layers and the two matrix products of attention (Q K^T and P V). Not counted: biases, norms, activations,
/// softmax, residual adds and resizes, which are memory-bound and a few percent of the total at our shapes; so the
/// achieved GFLOPS of a part is its matrix work per second, comparable with doctor's conv2d and matmul peaks.</para>
/// <para>Why hand-written: TorchSharp has no FLOP counter (PyTorch's <c>torch.utils.flop_counter</c> works by
/// dispatch interception, which TorchSharp does not expose).</para>
/// </remarks>
public sealed class FlopTally
{
    /// <summary>The FLOPs counted so far.</summary>
    public double Flops { get; private set; }

    /// <summary>Weights and biases of the conv and linear layers counted so far (attention products have none).</summary>
    public long LayerParameters { get; private set; }

    /// <summary>A 2-D convolution with one group: 2 * B * Hout * Wout * Cout * Cin * k * k.</summary>
    /// <param name="batch">B.</param>
    /// <param name="inChannels">Cin.</param>
    /// <param name="outChannels">Cout.</param>
    /// <param name="kernel">k (square).</param>
    /// <param name="outHeight">Hout.</param>
    /// <param name="outWidth">Wout.</param>
    /// <param name="bias">Whether the layer has a bias (counted as parameters, not FLOPs).</param>
    public void Conv(long batch, long inChannels, long outChannels, long kernel, long outHeight, long outWidth, bool bias = true)
    {
        Flops += 2.0 * batch * outHeight * outWidth * outChannels * inChannels * kernel * kernel;
        LayerParameters += outChannels * inChannels * kernel * kernel + (bias ? outChannels : 0);
    }

    /// <summary>A linear layer applied to <paramref name="rows"/> vectors: 2 * rows * in * out.</summary>
    /// <param name="rows">Vectors it maps (B * N for tokens).</param>
    /// <param name="inFeatures">in.</param>
    /// <param name="outFeatures">out.</param>
    /// <param name="bias">Whether the layer has a bias.</param>
    public void Linear(long rows, long inFeatures, long outFeatures, bool bias = true)
    {
        Flops += 2.0 * rows * inFeatures * outFeatures;
        LayerParameters += inFeatures * outFeatures + (bias ? outFeatures : 0);
    }

    /// <summary>Attention's two products for B x heads: Q K^T [N, d] x [d, T] and P V [N, T] x [T, d]: 2 * 2 * B * N * T * inner.</summary>
    /// <param name="batch">B.</param>
    /// <param name="queries">N.</param>
    /// <param name="keys">T.</param>
    /// <param name="inner">heads * d.</param>
    public void AttentionProducts(long batch, long queries, long keys, long inner) =>
        Flops += 2.0 * 2.0 * batch * queries * keys * inner;
}
