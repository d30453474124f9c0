using System.Drawing;
using TorchSharp;
using static TorchSharp.torch;

namespace Latent.Core.Imaging;

/// <summary>Tiles images into one contact sheet, row by row, with a padding border around and between the cells.</summary>
/// <remarks>
/// With <c>n</c> images, <c>c = min(columns, n)</c> columns and <c>r = ceil(n / c)</c> rows of <c>H x W</c> cells,
/// the grid is <c>(r*H + (r+1)*padding) x (c*W + (c+1)*padding)</c>, as torchvision's <c>make_grid</c>; cells left
/// over in the last row show the padding colour.
/// </remarks>
public static class ImageGrid
{
    /// <summary>The size of a grid of <paramref name="count"/> cells of size <paramref name="cell"/>.</summary>
    /// <param name="count">Number of images, at least 1.</param>
    /// <param name="columns">Wanted columns, at least 1 (fewer are used when there are fewer images).</param>
    /// <param name="cell">Size of one image.</param>
    /// <param name="padding">Pixels around and between cells, 0 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count, column count, size or padding is out of range.</exception>
    public static ImageSize GridSize(int count, int columns, ImageSize cell, int padding)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        cell.Validate(nameof(cell));
        int cols = Math.Min(columns, count);
        int rows = (count + cols - 1) / cols;
        return new ImageSize(cols * cell.Width + (cols + 1) * padding, rows * cell.Height + (rows + 1) * padding);
    }

    /// <summary>Tiles a batch <c>[B, 3, H, W]</c> in [-1, 1] into one <c>[3, H', W']</c> image (see <see cref="GridSize"/>).</summary>
    /// <param name="batch">The images, in [-1, 1]; any floating dtype and device.</param>
    /// <param name="columns">Images per row.</param>
    /// <param name="padding">Pixels around and between cells.</param>
    /// <param name="padColor">Colour of the padding; white when null.</param>
    /// <returns>A new float32 CPU tensor the caller owns.</returns>
    /// <exception cref="ArgumentException"><paramref name="batch"/> is not <c>[B, 3, H, W]</c> with B at least 1.</exception>
    /// <exception cref="ArgumentOutOfRangeException">As for <see cref="GridSize"/>.</exception>
    public static Tensor Tile(Tensor batch, int columns, int padding = 2, Color? padColor = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        long[] shape = batch.shape;
        if (shape.Length != 4 || shape[0] < 1 || shape[1] != 3 || shape[2] < 1 || shape[3] < 1)
            throw new ArgumentException($"expected a batch [B, 3, H, W] with B >= 1; got [{string.Join(", ", shape)}]", nameof(batch));
        int count = (int)shape[0], h = (int)shape[2], w = (int)shape[3];
        ImageSize size = GridSize(count, columns, new ImageSize(w, h), padding);
        int cols = Math.Min(columns, count);
        Color pad = padColor ?? Color.White;

        using var scope = NewDisposeScope();
        Tensor images = batch.detach().to(ScalarType.Float32, CPU);
        // [3] pad colour in [-1, 1] -> [3, H', W']
        Tensor grid = tensor(new[] { pad.R / 127.5f - 1f, pad.G / 127.5f - 1f, pad.B / 127.5f - 1f })
            .view(3, 1, 1).expand(3, size.Height, size.Width).contiguous();
        for (int i = 0; i < count; i++)
        {
            int top = padding + i / cols * (h + padding), left = padding + i % cols * (w + padding);
            grid[TensorIndex.Colon, TensorIndex.Slice(top, top + h), TensorIndex.Slice(left, left + w)].copy_(images[i]);
        }
        return grid.MoveToOuterDisposeScope();
    }

    /// <summary>Tiles a list of <c>[3, H, W]</c> images of one size (see <see cref="Tile(Tensor, int, int, Color?)"/>).</summary>
    /// <exception cref="ArgumentException">The list is empty, or the images differ in shape.</exception>
    public static Tensor Tile(IReadOnlyList<Tensor> images, int columns, int padding = 2, Color? padColor = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0)
            throw new ArgumentException("expected at least one image; got none", nameof(images));
        for (int i = 1; i < images.Count; i++)
        {
            if (!images[i].shape.SequenceEqual(images[0].shape))
                throw new ArgumentException(
                    $"all images must share one shape: image 0 is [{string.Join(", ", images[0].shape)}], image {i} is [{string.Join(", ", images[i].shape)}]", nameof(images));
        }
        using var scope = NewDisposeScope();
        // [3, H, W] x B -> [B, 3, H, W]
        Tensor batch = stack(images.Select(t => t.detach().to(ScalarType.Float32, CPU)));
        return Tile(batch, columns, padding, padColor).MoveToOuterDisposeScope();
    }
}
