namespace Latent.Judge;

/// <summary>One class of the judge: a base emoji.</summary>
/// <param name="Code">The folded code (<see cref="EmojiCodes.Fold"/>), e.g. "1F431".</param>
/// <param name="Name">A readable name (the data set's first caption of its base rendering), e.g. "cat face".</param>
public sealed record JudgeClass(string Code, string Name);
