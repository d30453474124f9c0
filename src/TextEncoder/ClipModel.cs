using Latent.Core.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Latent.TextEncoder;

/// <summary>
/// A CLIP for training our text encoder: transformers' <c>CLIPModel</c> layout with our ResNet image tower in place of
/// the ViT. Keys: <c>text_model.*</c> (identical to <see cref="ClipTextModel"/>'s), <c>vision_model.*</c>,
/// <c>text_projection.weight</c> [P, D], <c>visual_projection.weight</c> [P, C_img], <c>logit_scale</c> (a scalar).
/// </summary>
/// <remarks>
/// <c>text_embeds = text_projection(pooler_output)</c>, <c>image_embeds = visual_projection(tower(pixels))</c>, both
/// without bias; the loss is <see cref="ContrastiveLoss"/> with the temperature multiplier <c>exp(logit_scale)</c>,
/// <c>logit_scale</c> initialised to ln(1 / 0.07) as in CLIP. The projection width P is the text config's
/// <c>projection_dim</c>. After training, <see cref="CreateTextModel"/> gives the text encoder for the pipeline.
/// </remarks>
public sealed class ClipModel : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>CLIP's initial logit scale, ln(1 / 0.07) ≈ 2.6593 (transformers' <c>logit_scale_init_value</c>).</summary>
    public static readonly double LogitScaleInit = Math.Log(1.0 / 0.07);

    private readonly ClipTextTransformer text_model;
    private readonly ClipImageTower vision_model;
    private readonly Linear visual_projection;
    private readonly Linear text_projection;
    private readonly Parameter logit_scale;

    /// <summary>Creates the model with transformers' initialisation of the text tower and projections.</summary>
    /// <param name="textConfig">The text tower's config (also gives the projection width); validated here.</param>
    /// <param name="imageConfig">The image tower's config; validated here.</param>
    /// <exception cref="Latent.Core.Config.ConfigException">A text config value is out of range.</exception>
    /// <exception cref="ArgumentException">An image config value is out of range.</exception>
    public ClipModel(ClipTextConfig textConfig, ClipImageTowerConfig imageConfig) : base(nameof(ClipModel))
    {
        ArgumentNullException.ThrowIfNull(textConfig);
        ArgumentNullException.ThrowIfNull(imageConfig);
        textConfig.Validate();
        TextConfig = textConfig;
        ImageConfig = imageConfig;
        text_model = new ClipTextTransformer(textConfig);
        vision_model = new ClipImageTower(imageConfig);
        visual_projection = nn.Linear(imageConfig.HiddenSize, textConfig.ProjectionDim, hasBias: false);
        text_projection = nn.Linear(textConfig.HiddenSize, textConfig.ProjectionDim, hasBias: false);
        var logitScaleInit = tensor((float)LogitScaleInit);
        logit_scale = new Parameter(logitScaleInit);
        GC.KeepAlive(logitScaleInit);   // held across the native call: constructors run outside dispose scopes (Engine/Scalars.cs)
        using (no_grad())
        {
            // transformers' CLIPPreTrainedModel._init_weights for CLIPModel.
            double factor = textConfig.InitializerFactor;
            visual_projection.weight!.normal_(0.0, Math.Pow(imageConfig.HiddenSize, -0.5) * factor);
            text_projection.weight!.normal_(0.0, Math.Pow(textConfig.HiddenSize, -0.5) * factor);
        }
        RegisterComponents();
    }

    /// <summary>The text tower's config.</summary>
    public ClipTextConfig TextConfig { get; }

    /// <summary>The image tower's config.</summary>
    public ClipImageTowerConfig ImageConfig { get; }

    /// <summary>The learned log temperature multiplier, a 0-dim parameter; the loss uses exp(logit_scale).</summary>
    public Parameter LogitScale => logit_scale;

    /// <summary>
    /// A <see cref="ClipTextModel"/> that shares this model's text tower (same weights, same keys), to save or run as
    /// the pipeline's text encoder. Disposing it disposes the shared weights too.
    /// </summary>
    public ClipTextModel CreateTextModel() => new(TextConfig, text_model);

    /// <summary>Projected text embeddings (not normalised).</summary>
    /// <param name="inputIds">[B, T] int64, eos-terminated rows.</param>
    /// <returns>[B, P].</returns>
    public Tensor EncodeText(Tensor inputIds)
    {
        // input_ids: [B, T] -> pooled [B, D] -> [B, P]
        ClipTextModel.CheckInputIds(inputIds, TextConfig);
        using var output = text_model.Encode(inputIds, outputHiddenStates: false);
        return text_projection.forward(output.PoolerOutput);
    }

    /// <summary>Projected image embeddings (not normalised).</summary>
    /// <param name="pixels">[B, 3, S, S] in [-1, 1].</param>
    /// <returns>[B, P].</returns>
    public Tensor EncodeImage(Tensor pixels)
    {
        // pixels: [B, 3, S, S] -> pooled [B, C_img] -> [B, P]
        using var scope = NewDisposeScope();
        return visual_projection.forward(vision_model.forward(pixels)).MoveToOuterDisposeScope();
    }

    /// <summary>The contrastive loss of a batch of matching (caption, image) pairs.</summary>
    /// <param name="inputIds">[B, T] int64; row i describes image i.</param>
    /// <param name="pixels">[B, 3, S, S] in [-1, 1].</param>
    /// <returns>A 0-dim loss.</returns>
    public override Tensor forward(Tensor inputIds, Tensor pixels)
    {
        // input_ids: [B, T], pixels: [B, 3, S, S] -> []
        using var scope = NewDisposeScope();
        var text = EncodeText(inputIds);                 // [B, P]
        var image = EncodeImage(pixels);                 // [B, P]
        return ContrastiveLoss(image, text, logit_scale.exp()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CLIP's symmetric InfoNCE loss: with L2-normalised embeddings, <c>logits = s * text @ image^T</c> and
    /// <c>loss = (CE(logits, arange(B)) + CE(logits^T, arange(B))) / 2</c> (transformers' <c>clip_loss</c>). Entries
    /// (i, j) of an optional mask are set to −∞ first, so pair j is neither a positive nor a negative for pair i (the
    /// text-encoder trainer masks in-batch false negatives: renderings of one emoji).
    /// </summary>
    /// <param name="imageEmbeds">[B, P] image embeddings; normalised here.</param>
    /// <param name="textEmbeds">[B, P] text embeddings, row i matching image i; normalised here.</param>
    /// <param name="logitScale">The multiplier s = exp(logit_scale), a 0-dim tensor (gradients flow through it).</param>
    /// <param name="falseNegatives">[B, B] bool, true at the pairs to leave out (the diagonal must be false); null: none.</param>
    /// <returns>A 0-dim loss.</returns>
    /// <exception cref="ArgumentException">The embeddings are not two [B, P] tensors of one shape, the scale is not 0-dim,
    /// or the mask is not [B, B] bool or covers the diagonal.</exception>
    public static Tensor ContrastiveLoss(Tensor imageEmbeds, Tensor textEmbeds, Tensor logitScale, Tensor? falseNegatives = null)
    {
        ArgumentNullException.ThrowIfNull(imageEmbeds);
        ArgumentNullException.ThrowIfNull(textEmbeds);
        ArgumentNullException.ThrowIfNull(logitScale);
        if (imageEmbeds.dim() != 2 || !imageEmbeds.shape.SequenceEqual(textEmbeds.shape))
            throw new ArgumentException(
                $"embeddings must both be [B, P]; got image [{string.Join(", ", imageEmbeds.shape)}] and text [{string.Join(", ", textEmbeds.shape)}].");
        if (logitScale.dim() != 0)
            throw new ArgumentException($"logitScale must be 0-dim; got [{string.Join(", ", logitScale.shape)}].", nameof(logitScale));
        long b = imageEmbeds.shape[0];
        using var scope = NewDisposeScope();   // the mask check's temporaries too
        if (falseNegatives is not null)
        {
            if (falseNegatives.dim() != 2 || falseNegatives.shape[0] != b || falseNegatives.shape[1] != b || falseNegatives.dtype != ScalarType.Bool)
                throw new ArgumentException(
                    $"falseNegatives must be a [{b}, {b}] bool tensor; got {falseNegatives.dtype} [{string.Join(", ", falseNegatives.shape)}].", nameof(falseNegatives));
            if (falseNegatives.diagonal().any().item<bool>())
                throw new ArgumentException("falseNegatives masks a diagonal entry; expected the positives (i, i) unmasked.", nameof(falseNegatives));
        }
        // image, text: [B, P] -> []
        var image = nn.functional.normalize(imageEmbeds, p: 2.0, dim: 1);
        var text = nn.functional.normalize(textEmbeds, p: 2.0, dim: 1);
        var logitsPerText = text.matmul(image.t()) * logitScale;                 // [B, B]
        if (falseNegatives is not null)
            logitsPerText = logitsPerText.masked_fill(falseNegatives, Scalars.Of(double.NegativeInfinity));
        using var batchSize = b.ToScalar();
        var labels = arange(Scalars.Of(0), batchSize, Scalars.One, dtype: ScalarType.Int64, device: imageEmbeds.device);   // [B]
        var textLoss = nn.functional.cross_entropy(logitsPerText, labels);
        var imageLoss = nn.functional.cross_entropy(logitsPerText.t(), labels);
        return (textLoss.add(imageLoss, Scalars.One) / Scalars.Of(2.0)).MoveToOuterDisposeScope();
    }
}
