using Latent.Core.Onnx;
using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>transformers' <c>CLIPMLP</c>: <c>fc2(act(fc1(x)))</c>, D -> F -> D.</summary>
/// <remarks>
/// The activation is <see cref="ClipActivation.QuickGelu"/> (x * sigmoid(1.702 x)) or <see cref="ClipActivation.Gelu"/>
/// (exact erf GELU). State-dict keys: <c>fc1</c> ([F, D], [F]), <c>fc2</c> ([D, F], [D]).
/// </remarks>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly ClipActivation activation;

    /// <summary>Creates the MLP with transformers' initialisation (normal weights, zero biases).</summary>
    /// <param name="config">A validated config.</param>
    public ClipMlp(ClipTextConfig config) : base(nameof(ClipMlp))
    {
        fc1 = nn.Linear(config.HiddenSize, config.IntermediateSize);
        fc2 = nn.Linear(config.IntermediateSize, config.HiddenSize);
        activation = config.HiddenAct;

        // transformers' CLIPPreTrainedModel._init_weights for CLIPMLP.
        double factor = config.InitializerFactor;
        double d = config.HiddenSize;
        double inStd = Math.Pow(d, -0.5) * Math.Pow(2.0 * config.NumHiddenLayers, -0.5) * factor;
        double fcStd = Math.Pow(2.0 * d, -0.5) * factor;
        using (no_grad())
        {
            fc1.weight!.normal_(0.0, fcStd);
            fc2.weight!.normal_(0.0, inStd);
            fc1.bias!.zero_();
            fc2.bias!.zero_();
        }
        RegisterComponents();
    }

    /// <summary>Applies the MLP token-wise.</summary>
    /// <param name="x">[B, T, D].</param>
    /// <returns>[B, T, D].</returns>
    public override Tensor forward(Tensor x)
    {
        // x: [B, T, D] -> [B, T, F] -> [B, T, D]
        using var scope = NewDisposeScope();
        var h = fc1.forward(x);
        h = Activate(h, activation);
        return fc2.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>Writes this module's forward into an ONNX graph.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="key">Its state-dict prefix, e.g. "text_model.encoder.layers.0.mlp".</param>
    /// <param name="x">[B, T, D].</param>
    /// <returns>[B, T, D].</returns>
    public string ExportOnnx(OnnxGraph g, string key, string x)
    {
        // x: [B, T, D] -> [B, T, F] -> [B, T, D]
        string h = g.Linear($"{key}.fc1", fc1, x);
        h = activation switch
        {
            ClipActivation.QuickGelu => g.Node("Mul", [h, g.Node("Sigmoid", [g.Node("Mul", [h, g.Scalar("quick_gelu_scale", 1.702)])])]),
            ClipActivation.Gelu => g.Gelu(h),
            _ => throw new NotSupportedException($"{key}: activation {activation} is not exported"),
        };
        return g.Linear($"{key}.fc2", fc2, h);
    }

    /// <summary>Applies <paramref name="activation"/> element-wise.</summary>
    internal static Tensor Activate(Tensor x, ClipActivation activation) => activation switch
    {
        ClipActivation.QuickGelu => x * torch.sigmoid(x * Scalars.Of(1.702)),
        ClipActivation.Gelu => nn.functional.gelu(x),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "expected QuickGelu or Gelu"),
    };
}
