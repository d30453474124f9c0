using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Latent.Server;

/// <summary>HTTP basic authentication as AUTOMATIC1111's <c>--api-auth</c>: every path but <c>/health</c> needs a listed user.</summary>
/// <remarks>Hand-written: ASP.NET Core ships no basic-auth handler, and the check is a header compare (in constant time).</remarks>
static class BasicAuth
{
    /// <summary>Parses <c>user:pass[,user2:pass2]</c> into the <c>Authorization</c> header values they allow.</summary>
    /// <exception cref="ArgumentException">A pair has no ':' or an empty user name.</exception>
    public static IReadOnlyList<byte[]> ParseCredentials(string apiAuth)
    {
        var allowed = new List<byte[]>();
        foreach (string pair in apiAuth.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = pair.IndexOf(':');
            if (colon <= 0)
                throw new ArgumentException($"--api-auth entry '{Mask(pair)}' is not user:pass; expected e.g. alice:secret (several separated by commas)", "ApiAuth");
            allowed.Add(Encoding.ASCII.GetBytes("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(pair))));
        }
        return allowed.Count > 0 ? allowed : throw new ArgumentException("--api-auth is empty; expected user:pass", "ApiAuth");
    }

    /// <summary>Lets a request through when it carries one of <paramref name="allowed"/>; otherwise answers 401 with a challenge.</summary>
    public static RequestDelegate Middleware(RequestDelegate next, IReadOnlyList<byte[]> allowed) => async context =>
    {
        if (context.Request.Path.Equals("/health", StringComparison.Ordinal) || Allowed(context.Request.Headers.Authorization.ToString(), allowed))
        {
            await next(context);
            return;
        }
        context.Response.Headers.WWWAuthenticate = "Basic realm=\"latent\", charset=\"UTF-8\"";
        await ApiError.Write(context, StatusCodes.Status401Unauthorized, "authorization", "this server needs HTTP basic credentials (--api-auth)");
    };

    static bool Allowed(string header, IReadOnlyList<byte[]> allowed)
    {
        byte[] given = Encoding.ASCII.GetBytes(header);
        bool ok = false;
        foreach (byte[] a in allowed) ok |= CryptographicOperations.FixedTimeEquals(given, a);
        return ok;
    }

    static string Mask(string pair) => pair.Length <= 2 ? "**" : pair[..2] + new string('*', pair.Length - 2);
}
