using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Latent.Pipeline;

namespace Latent.Server.Tests;

/// <summary>Security defaults: loopback unless told otherwise, HTTP basic credentials for anything else, limits checked.</summary>
[Collection(ServerCollection.Name)]
public class ServerOptionsTests(ParityPipelineFixture fixture)
{
    readonly StableDiffusionPipeline pipeline = fixture.Pipeline;

    [Fact]
    public void Defaults_BindLoopbackOnA1111sPort()
    {
        var options = new ServerOptions();
        Assert.Equal(("127.0.0.1", 7860, true), (options.Host, options.Port, options.IsLoopback));
        options.Validate();
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("192.168.1.10")]
    public async Task NonLoopbackHost_WithoutApiAuth_IsRefusedBeforeBinding(string host)
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => LatentServer.StartAsync(pipeline, new ServerOptions { Host = host }));
        Assert.Contains("--api-auth", e.Message);
        Assert.Contains(host, e.Message);
        new ServerOptions { Host = host, ApiAuth = "u:p" }.Validate();
    }

    [Theory]
    [InlineData("example.com", "Host")]
    [InlineData("nocolon", "ApiAuth")]
    [InlineData(":nouser", "ApiAuth")]
    public void BadOption_IsNamed(string value, string name)
    {
        var options = name == "Host" ? new ServerOptions { Host = value } : new ServerOptions { ApiAuth = value };
        Assert.Equal(name, Assert.Throws<ArgumentException>(options.Validate).ParamName);
    }

    [Theory]
    [InlineData(nameof(ServerOptions.QueueCapacity))]
    [InlineData(nameof(ServerOptions.MaxSteps))]
    [InlineData(nameof(ServerOptions.MaxImages))]
    [InlineData(nameof(ServerOptions.MaxSide))]
    [InlineData(nameof(ServerOptions.MaxBodyBytes))]
    public void LimitBelowOne_IsRefused(string name)
    {
        var options = name switch
        {
            nameof(ServerOptions.QueueCapacity) => new ServerOptions { QueueCapacity = 0 },
            nameof(ServerOptions.MaxSteps) => new ServerOptions { MaxSteps = 0 },
            nameof(ServerOptions.MaxImages) => new ServerOptions { MaxImages = 0 },
            nameof(ServerOptions.MaxSide) => new ServerOptions { MaxSide = 0 },
            _ => new ServerOptions { MaxBodyBytes = 10 },
        };
        Assert.Equal(name, Assert.Throws<ArgumentException>(options.Validate).ParamName);
    }

    [Fact]
    public async Task ApiAuth_Needs401Credentials_ButNotForHealth()
    {
        await using var server = await TestServer.Start(pipeline, new ServerOptions { ApiAuth = "alice:secret,bob:pw" });
        using var none = await server.Client.GetAsync("/sdapi/v1/samplers");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Basic", none.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health")).StatusCode);

        foreach (var (credentials, expected) in new[] { ("alice:wrong", HttpStatusCode.Unauthorized), ("alice:secret", HttpStatusCode.OK), ("bob:pw", HttpStatusCode.OK) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/sdapi/v1/txt2img") { Content = new StringContent("""{"prompt": "a cat", "steps": 1}""", Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
            using var response = await server.Client.SendAsync(request);
            Assert.Equal(expected, response.StatusCode);
        }
    }

    [Fact]
    public async Task PortInUse_FailsToStart()
    {
        await using var first = await TestServer.Start(pipeline);
        await Assert.ThrowsAnyAsync<IOException>(() => LatentServer.StartAsync(pipeline, new ServerOptions { Port = first.Server.Address.Port, Log = TextWriter.Null }));
    }
}
