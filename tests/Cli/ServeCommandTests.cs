using System.Text.RegularExpressions;
using Latent.Cli.Commands;

namespace Latent.Cli.Tests;

/// <summary><c>latent serve</c>: its security default in-process, and a real start, request and SIGTERM as a separate process.</summary>
[Collection(InProcessCli.Collection)]
public class ServeCommandTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    public void Serve_NonLoopbackHostWithoutApiAuth_ExitsTwoBeforeLoading(string host)
    {
        var r = InProcessCli.Run("serve", "--model", "no-such-model", "--host", host);
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains($"host {host} is reachable from other machines; set --api-auth user:pass", r.Err);
    }

    [Fact]
    public void Serve_BadLimit_IsAUsageError()
    {
        var r = InProcessCli.Run("serve", "--max-steps", "0");
        Assert.Equal(CommandRunner.UserError, r.Code);
        Assert.Contains("--max-steps must be in [1, 1000]; got 0.", r.Err);
    }

    [Fact]
    public void Serve_StartsOnAFreePort_AnswersHealth_AndStopsOnSigterm()
    {
        string? health = null;
        var r = LatentProcess.RunAndTerminate(line =>
        {
            Match m = Regex.Match(line, @"^serving parity at (http://127\.0\.0\.1:\d+/)");
            if (!m.Success) return false;
            using var client = new HttpClient { BaseAddress = new Uri(m.Groups[1].Value) };
            health = client.GetStringAsync("/health").GetAwaiter().GetResult();
            return true;
        }, "serve", "--model", TestEnvironment.Parity, "--port", "0", "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("\"status\":\"ok\"", health);
        Assert.Contains("stopping", r.Stdout);
        Assert.Matches(@"id=\w+ GET /health 200", r.Stdout);
    }
}
