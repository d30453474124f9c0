using static TorchSharp.torch;

namespace Latent.Pipeline;

/// <summary>
/// One of the pipeline's LibTorch modules, built only when something needs it. A part that ONNX Runtime runs is never
/// built on a warm start (its session is read from <see cref="Ort.OnnxModelCache"/>), and is freed after an export: the
/// session holds the only float32 copy of its weights. <see cref="Value"/> builds it (again) from the model's files when
/// a LoRA, a save, or a call that only LibTorch can hold needs it.
/// </summary>
/// <typeparam name="T">The module's type.</typeparam>
internal sealed class TorchPart<T> : IDisposable where T : nn.Module
{
    T? module;
    Func<T>? build;

    /// <summary>A module that exists already (a trainer's, or one read eagerly); <see cref="Release"/> can free it later.</summary>
    public TorchPart(T module) => this.module = module;

    /// <summary>A module built on first use by <paramref name="build"/> (which reads and checks the model's files).</summary>
    public TorchPart(Func<T> build) => this.build = build;

    /// <summary>Whether the module exists now.</summary>
    public bool IsBuilt => module is not null;

    /// <summary>Test hook: how many times the module was built here (not counting one given to the constructor).</summary>
    public int Builds { get; private set; }

    /// <summary>The module, built first if needed.</summary>
    /// <exception cref="InvalidOperationException">The part was released without a way to build it again.</exception>
    public T Value
    {
        get
        {
            if (module is not null) return module;
            module = (build ?? throw new InvalidOperationException($"the {typeof(T).Name} was released and cannot be built again")).Invoke();
            Builds++;
            return module;
        }
    }

    /// <summary>Frees the module (if built); <see cref="Value"/> builds it again with <paramref name="rebuild"/>.</summary>
    /// <param name="rebuild">Reads the module from the model's files and checks they did not change.</param>
    public void Release(Func<T> rebuild)
    {
        module?.Dispose();
        module = null;
        build = rebuild;
    }

    /// <summary>Frees the module, if built.</summary>
    public void Dispose()
    {
        module?.Dispose();
        module = null;
    }
}
