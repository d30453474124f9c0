namespace Latent.Core.Imaging;

/// <summary>A width and height in pixels, both positive.</summary>
/// <param name="Width">Pixels per row (the tensor's W).</param>
/// <param name="Height">Rows (the tensor's H).</param>
public readonly record struct ImageSize(int Width, int Height)
{
    /// <summary>Throws when either side is not positive.</summary>
    /// <param name="paramName">The argument name to report.</param>
    /// <exception cref="ArgumentOutOfRangeException">Width or height is zero or negative.</exception>
    public void Validate(string paramName)
    {
        if (Width <= 0 || Height <= 0)
            throw new ArgumentOutOfRangeException(paramName, this, $"image size must be positive; got {Width}x{Height}");
    }

    /// <summary>Formats as <c>WIDTHxHEIGHT</c>, the form A1111 and the CLI use.</summary>
    public override string ToString() => $"{Width}x{Height}";
}
