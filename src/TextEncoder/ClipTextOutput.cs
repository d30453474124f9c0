using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>The outputs of <see cref="ClipTextModel.Encode"/> (transformers' <c>BaseModelOutputWithPooling</c>); the caller owns and disposes them.</summary>
/// <param name="LastHiddenState">[B, T, D]: the last layer's output after the final LayerNorm; what the U-Net cross-attends to.</param>
/// <param name="PoolerOutput">[B, D]: <paramref name="LastHiddenState"/> at each row's first eos token.</param>
/// <param name="HiddenStates">
/// When requested, N + 1 tensors [B, T, D]: [0] the embeddings (token + position), [i] the output of layer i, before the
/// final LayerNorm (SD 2 conditions on [N - 1], the penultimate layer); null otherwise.
/// </param>
public sealed record ClipTextOutput(Tensor LastHiddenState, Tensor PoolerOutput, IReadOnlyList<Tensor>? HiddenStates) : IDisposable
{
    /// <summary>Disposes every tensor of the output.</summary>
    public void Dispose()
    {
        LastHiddenState.Dispose();
        PoolerOutput.Dispose();
        if (HiddenStates is not null)
            foreach (var h in HiddenStates) h.Dispose();
    }
}
