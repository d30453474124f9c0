using System.Diagnostics;
using System.Net.Sockets;

namespace Latent.Tests;

/// <summary>Makes the special files that readers and writers must refuse (a FIFO, a socket), inside a test's temp folder.</summary>
public static class SpecialFiles
{
    /// <summary>Runs <c>mkfifo <paramref name="path"/></c> (coreutils) and returns the path.</summary>
    public static string MakeFifo(string path)
    {
        using var process = Process.Start(new ProcessStartInfo("mkfifo", [path]) { RedirectStandardError = true })!;
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"mkfifo {path} failed: {process.StandardError.ReadToEnd()}");
        return path;
    }

    /// <summary>Binds a Unix domain socket at <paramref name="path"/>; dispose the socket after the test.</summary>
    public static Socket MakeSocket(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    /// <summary>Runs <paramref name="action"/> on a worker and fails when it has not finished within <paramref name="seconds"/>
    /// (a read of a FIFO blocks forever; the test must report that, not hang). Returns the exception it threw, if any.</summary>
    public static Exception? WithTimeout(Action action, int seconds = 10)
    {
        Exception? thrown = null;
        var thread = new Thread(() =>
        {
            try { action(); }
            catch (Exception e) { thrown = e; }
        }) { IsBackground = true };
        thread.Start();
        if (!thread.Join(TimeSpan.FromSeconds(seconds)))
            throw new TimeoutException($"still running after {seconds} s (blocked on a special file?)");
        return thrown;
    }
}
