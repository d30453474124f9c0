namespace Latent.Pipeline;

/// <summary>Reported after each denoising step, synchronously on the generating thread.</summary>
/// <param name="Step">Steps done, 1 to <paramref name="TotalSteps"/>.</param>
/// <param name="TotalSteps">Steps this call runs (for img2img: floor(steps * strength)).</param>
/// <param name="Timestep">The timestep t of the step just done.</param>
public sealed record GenerationProgress(int Step, int TotalSteps, double Timestep);
