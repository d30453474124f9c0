using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>No gradients and evaluation mode for one call; the modules' previous modes come back on dispose.</summary>
internal sealed class InferenceMode : IDisposable
{
    readonly (nn.Module Module, bool Training)[] modules;
    readonly IDisposable noGrad;

    public InferenceMode(params nn.Module[] modules)
    {
        this.modules = modules.Select(m => (m, m.training)).ToArray();
        foreach (var m in modules) m.eval();
        noGrad = no_grad();
    }

    public void Dispose()
    {
        noGrad.Dispose();
        foreach (var (m, training) in modules) m.train(training);
    }
}
