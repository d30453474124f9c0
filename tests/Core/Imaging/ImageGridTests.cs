using System.Drawing;
using Latent.Core.Engine;
using Latent.Core.Imaging;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Latent.Core.Tests.Imaging;

public class ImageGridTests
{
    [Theory]
    [InlineData(4, 2, 2, 22, 18)]  // 2x2 cells of 8x6: 2*8 + 3*2, 2*6 + 3*2
    [InlineData(5, 2, 2, 22, 26)]  // 3 rows
    [InlineData(3, 10, 2, 32, 10)] // fewer images than columns: 3 columns
    [InlineData(6, 3, 0, 24, 12)]  // no padding
    [InlineData(1, 1, 1, 10, 8)]
    public void GridSize_FollowsMakeGridMath(int count, int columns, int padding, int width, int height) =>
        Assert.Equal(new ImageSize(width, height), ImageGrid.GridSize(count, columns, new ImageSize(8, 6), padding));

    [Fact]
    public void Tile_PlacesCellsRowByRow_AndPadsWithTheColour()
    {
        using var scope = NewDisposeScope();
        // Image i is filled with the value i / 10.
        using Tensor batch = TestTensors.Arange(5, ScalarType.Float32).div(Scalars.Of(10))
            .view(5, 1, 1, 1).expand(5, 3, 6, 8).contiguous();
        using Tensor grid = ImageGrid.Tile(batch, columns: 2, padding: 2, padColor: Color.Black);
        Assert.Equal(new long[] { 3, 26, 22 }, grid.shape);
        Assert.Equal(0.0f, grid[0, 2, 2].item<float>());                      // image 0, top-left cell
        Assert.Equal(0.1f, grid[1, 2, 2 + 8 + 2].item<float>(), 6);           // image 1, top-right
        Assert.Equal(0.4f, grid[2, 2 + 2 * 8, 2].item<float>(), 6);           // image 4, third row, left
        Assert.Equal(-1f, grid[0, 0, 0].item<float>());                       // border
        Assert.Equal(-1f, grid[0, 2, 2 + 8].item<float>());                   // gap between columns
        Assert.Equal(-1f, grid[0, 2 + 2 * 8, 2 + 8 + 2 + 3].item<float>());   // empty last cell
    }

    [Fact]
    public void Tile_DefaultPaddingIsWhite()
    {
        using var scope = NewDisposeScope();
        using Tensor grid = ImageGrid.Tile(zeros(2, 3, 4, 4), columns: 2);
        Assert.Equal(1f, grid[TensorIndex.Colon, 0, 0].min().item<float>());
    }

    [Fact]
    public void Tile_ListEqualsBatch()
    {
        using var scope = NewDisposeScope();
        using Tensor batch = rand(3, 3, 5, 4, generator: new Generator(0).manual_seed(1));
        Tensor[] list = [batch[0], batch[1], batch[2]];
        using Tensor a = ImageGrid.Tile(batch, 2, 1, Color.Red);
        using Tensor b = ImageGrid.Tile(list, 2, 1, Color.Red);
        Assert.True(a.equal(b).all().item<bool>());
    }

    // ---- validation: one test per rule ----

    [Fact]
    public void Tile_ThrowsForNonBatchShape()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => ImageGrid.Tile(zeros(3, 8, 8), 2));
        Assert.Contains("[3, 8, 8]", e.Message);
    }

    [Fact]
    public void Tile_ThrowsForZeroColumns()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageGrid.Tile(zeros(2, 3, 4, 4), 0));
    }

    [Fact]
    public void Tile_ThrowsForNegativePadding()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageGrid.Tile(zeros(2, 3, 4, 4), 2, padding: -1));
    }

    [Fact]
    public void Tile_ThrowsForEmptyList() =>
        Assert.Throws<ArgumentException>(() => ImageGrid.Tile(Array.Empty<Tensor>(), 2));

    [Fact]
    public void Tile_ThrowsForMixedShapesInList()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => ImageGrid.Tile([zeros(3, 4, 4), zeros(3, 4, 5)], 2));
        Assert.Contains("[3, 4, 5]", e.Message);
    }
}
