using System.Diagnostics;
using Latent.Core.Imaging;

namespace Latent.Cli.Data;

/// <summary>Renders SVG to PNG with librsvg's <c>rsvg-convert</c> (package librsvg2-bin), SVG on stdin, PNG on stdout.</summary>
public static class SvgRasterizer
{
    /// <summary>The program run.</summary>
    public const string Program = "rsvg-convert";

    /// <summary>Renders <paramref name="svg"/> to a PNG of <paramref name="size"/> on a white background.</summary>
    /// <param name="svg">The SVG document's bytes.</param>
    /// <param name="size">The output size; the SVG's view box is scaled to fill it.</param>
    /// <param name="name">What the SVG is, for error messages.</param>
    /// <exception cref="IOException">rsvg-convert is missing or failed; the message names the SVG and holds its error.</exception>
    public static byte[] Render(byte[] svg, ImageSize size, string name)
    {
        ArgumentNullException.ThrowIfNull(svg);
        size.Validate(nameof(size));
        var start = new ProcessStartInfo(Program)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (string a in new[] { "--width", size.Width.ToString(), "--height", size.Height.ToString(), "--background-color", "white", "--format", "png" })
            start.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(start) ?? throw new IOException($"{Program} did not start"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"cannot run {Program} to render '{name}' ({e.Message}); install librsvg2-bin", e);
        }
        using (process)
        {
            using var png = new MemoryStream();
            Task copy = process.StandardOutput.BaseStream.CopyToAsync(png);
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            process.StandardInput.BaseStream.Write(svg);
            process.StandardInput.Close();
            copy.Wait();
            process.WaitForExit();
            if (process.ExitCode != 0 || png.Length == 0)
                throw new IOException($"{Program} failed on '{name}' (exit code {process.ExitCode}): {stderr.Result.Trim()}");
            return png.ToArray();
        }
    }
}
