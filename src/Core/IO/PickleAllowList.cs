using static TorchSharp.torch;

namespace Latent.Core.IO;

/// <summary>What an allowed global becomes when the unpickler meets it.</summary>
internal enum PickleGlobalKind
{
    /// <summary><c>torch.FloatStorage</c> and kin: only a dtype tag inside a storage's persistent id.</summary>
    Storage,
    /// <summary><c>torch._utils._rebuild_tensor_v2</c> (and v1): (storage, offset, size, stride, ...) -> a strided view.</summary>
    RebuildTensor,
    /// <summary><c>torch._utils._rebuild_parameter</c> (and <c>_with_state</c>): (tensor, requires_grad, hooks) -> the tensor.</summary>
    RebuildParameter,
    /// <summary><c>collections.OrderedDict</c>: an empty dict, filled by SETITEMS.</summary>
    OrderedDict,
    /// <summary>
    /// Bookkeeping objects found beside the weights in real training checkpoints (Lightning's <c>ModelCheckpoint</c>
    /// callback state, numpy scalars such as <c>best_model_score</c>): built as an opaque placeholder holding nothing,
    /// never called, and reported as ignored. The same set AUTOMATIC1111's safe unpickler admits for SD 1.x <c>.ckpt</c>.
    /// </summary>
    Inert,
}

/// <summary>A global named by a GLOBAL/STACK_GLOBAL opcode that passed the allow-list.</summary>
internal sealed record PickleGlobal(string Module, string Name, PickleGlobalKind Kind, ScalarType Dtype = ScalarType.Float32)
{
    /// <summary><c>module.name</c>, as Python writes it.</summary>
    public string FullName => $"{Module}.{Name}";
}

/// <summary>The result of calling an <see cref="PickleGlobalKind.Inert"/> global: a named placeholder with no content.</summary>
internal sealed record PickleOpaque(string GlobalName);

/// <summary>
/// The only globals a checkpoint's pickle may name. Anything else (<c>posix.system</c>, <c>builtins.eval</c>,
/// <c>subprocess.Popen</c>, a model class) is refused by name: that is what makes a <c>.ckpt</c> safe to open.
/// </summary>
internal static class PickleAllowList
{
    static readonly Dictionary<string, PickleGlobal> Allowed = Build();

    /// <summary>The allowed global <paramref name="module"/>.<paramref name="name"/>, or null when it is not allowed.</summary>
    public static PickleGlobal? Find(string module, string name) =>
        Allowed.TryGetValue($"{module}.{name}", out var g) ? g : null;

    static Dictionary<string, PickleGlobal> Build()
    {
        var list = new List<PickleGlobal>
        {
            new("torch._utils", "_rebuild_tensor", PickleGlobalKind.RebuildTensor),
            new("torch._utils", "_rebuild_tensor_v2", PickleGlobalKind.RebuildTensor),
            new("torch._utils", "_rebuild_parameter", PickleGlobalKind.RebuildParameter),
            new("torch._utils", "_rebuild_parameter_with_state", PickleGlobalKind.RebuildParameter),
            new("collections", "OrderedDict", PickleGlobalKind.OrderedDict),
            new("numpy.core.multiarray", "scalar", PickleGlobalKind.Inert),
            new("numpy", "dtype", PickleGlobalKind.Inert),
            new("_codecs", "encode", PickleGlobalKind.Inert),
            new("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", PickleGlobalKind.Inert),
        };
        (string Name, ScalarType Dtype)[] storages =
        [
            ("FloatStorage", ScalarType.Float32), ("HalfStorage", ScalarType.Float16), ("BFloat16Storage", ScalarType.BFloat16),
            ("DoubleStorage", ScalarType.Float64), ("LongStorage", ScalarType.Int64), ("IntStorage", ScalarType.Int32),
            ("ShortStorage", ScalarType.Int16), ("CharStorage", ScalarType.Int8), ("ByteStorage", ScalarType.Byte),
            ("BoolStorage", ScalarType.Bool),
        ];
        foreach (var (name, dtype) in storages) list.Add(new("torch", name, PickleGlobalKind.Storage, dtype));
        return list.ToDictionary(g => g.FullName, StringComparer.Ordinal);
    }
}
