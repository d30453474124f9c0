using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Latent.Server;

/// <summary>A request the server refuses: the HTTP status, the field at fault and why.</summary>
/// <param name="status">422 for a bad field value, 400 for a body that is not a JSON object, 413 for a body over the limit.</param>
/// <param name="field">The A1111 field name (<c>steps</c>, <c>init_images[0]</c>), or <c>body</c>.</param>
/// <param name="message">What was received and what is expected.</param>
sealed class ApiException(int status, string field, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Field { get; } = field;
}

/// <summary>Writes error bodies: <c>{"error": message, "field": name, "detail": [{"loc": ["body", name], "msg", "type"}]}</c>, the
/// <c>detail</c> list in FastAPI's 422 shape, which A1111 clients already read.</summary>
static class ApiError
{
    public static Task Write(HttpContext context, int status, string field, string message)
    {
        context.Response.StatusCode = status;
        context.Items[RequestLog.OutcomeKey] = $"error field={field}";
        var body = new
        {
            error = message,
            field,
            detail = new[] { new { loc = field == "body" ? new[] { "body" } : new[] { "body", field }, msg = message, type = status == 422 ? "value_error" : "request_error" } },
        };
        return context.Response.WriteAsJsonAsync(body, Json.Options);
    }
}

/// <summary>JSON settings shared by every endpoint: A1111's snake_case names are on the records; numbers may come as strings (pydantic coerces them).</summary>
static class Json
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip,
        // Responses are application/json, never inlined into HTML: base64's '+' and prompts' quotes stay as they are.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
